import sys

from loadbalancer.cli import main

sys.exit(main())
