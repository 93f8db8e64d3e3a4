package webhook

import (
	"context"
	"net"
	"net/http"
	"time"
)

// Defaults of ServerOptions.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultWriteTimeout      = time.Minute
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxHeaderBytes    = 64 << 10
)

// ServerOptions bound the HTTP server the webhooks (and the pages beside
// them) are served on. Zero fields take the defaults.
type ServerOptions struct {
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration
	// BodyTimeout bounds reading a body; the server's ReadTimeout is the
	// header and body timeouts together (a Handler also sets its own body
	// deadline when it starts reading). DefaultBodyTimeout when zero.
	BodyTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the
	// end of its answer (a dashboard page, a /metrics scrape).
	WriteTimeout time.Duration
	// IdleTimeout closes a kept-alive connection with no request.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps a request's headers.
	MaxHeaderBytes int
	// BaseContext is every request's parent context; nil: Background.
	BaseContext context.Context
}

// NewServer returns an http.Server for h with every timeout set: with only
// a header timeout, 500 connections trickling a body one byte a second
// stayed open for minutes.
func NewServer(h http.Handler, o ServerOptions) *http.Server {
	def := func(d, v time.Duration) time.Duration {
		if d <= 0 {
			return v
		}
		return d
	}
	header := def(o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	maxHeader := o.MaxHeaderBytes
	if maxHeader <= 0 {
		maxHeader = DefaultMaxHeaderBytes
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: header,
		ReadTimeout:       header + def(o.BodyTimeout, DefaultBodyTimeout),
		WriteTimeout:      def(o.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       def(o.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    maxHeader,
	}
	if ctx := o.BaseContext; ctx != nil {
		srv.BaseContext = func(net.Listener) context.Context { return ctx }
	}
	return srv
}
