"""``python -m streamjobs.mrjob MODULE.CLASS [-r inline|local|hadoop|emr] ... INPUT...``"""

from streamjobs.mrjob.cli import main

if __name__ == "__main__":
    main()
