from protoecg_lib.cli import main

raise SystemExit(main())
