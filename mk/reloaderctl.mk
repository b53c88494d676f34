# reloaderctl: the command-line client of the control verbs (issue 4).
