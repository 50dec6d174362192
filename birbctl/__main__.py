from birbctl.cli.app import main

main()
