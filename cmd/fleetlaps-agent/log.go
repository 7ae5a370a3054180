package main

import (
	"io"
	stdlog "log"
)

func newLogger(w io.Writer) *stdlog.Logger { return stdlog.New(w, "", stdlog.LstdFlags|stdlog.LUTC) }
