from burgerwacht.cli import main

main()
