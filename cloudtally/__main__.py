from cloudtally.cli import main

main()
