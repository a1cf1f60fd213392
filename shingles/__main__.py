from shingles.cli import main
raise SystemExit(main())
