import sys

from sluice.coverage.merge import main

sys.exit(main(sys.argv[1:]))
