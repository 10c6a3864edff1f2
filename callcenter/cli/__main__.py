"""`python -m callcenter.cli`: the same command as `callcenter`."""

from callcenter.cli.main import main

main()
