from cellplateau.cli import main

main()
