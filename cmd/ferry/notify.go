package main

import (
	"fmt"
	"log/slog"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/notify"
)

// notifier builds the dispatcher of ferry.yaml's notifications, or nil when
// none are configured. Secrets come from files.
func notifier(p *config.Pipeline, log *slog.Logger) (*notify.Dispatcher, error) {
	n := p.Notifications
	senders := map[string]notify.Sender{}
	if e := n.Email; e != nil {
		cfg := notify.SMTPConfig{Addr: e.SMTP, From: e.From, To: e.To, Subject: e.Subject, Body: e.Body}
		if err := readSecrets(secret{e.UsernameFile, &cfg.Username}, secret{e.PasswordFile, &cfg.Password}); err != nil {
			return nil, fmt.Errorf("notifications.email: %w", err)
		}
		s, err := notify.NewSMTP(cfg)
		if err != nil {
			return nil, fmt.Errorf("notifications.email: %w", err)
		}
		senders["email"] = s
	}
	for i, w := range n.Webhooks {
		cfg := notify.WebhookConfig{URL: w.URL}
		if err := readSecrets(secret{w.TokenFile, &cfg.Token}, secret{w.SecretFile, &cfg.Secret}); err != nil {
			return nil, fmt.Errorf("notifications.webhooks[%d]: %w", i, err)
		}
		s, err := notify.NewWebhook(cfg)
		if err != nil {
			return nil, fmt.Errorf("notifications.webhooks[%d]: %w", i, err)
		}
		senders[fmt.Sprintf("webhook-%d", i)] = s
	}
	if sl := n.Slack; sl != nil {
		cfg := notify.SlackConfig{Subject: sl.Subject, Body: sl.Body}
		if err := readSecrets(secret{sl.URLFile, &cfg.URL}); err != nil {
			return nil, fmt.Errorf("notifications.slack: %w", err)
		}
		s, err := notify.NewSlack(cfg)
		if err != nil {
			return nil, fmt.Errorf("notifications.slack: %w", err)
		}
		senders["slack"] = s
	}
	if len(senders) == 0 {
		return nil, nil
	}
	// No events named: every kind goes to every sender.
	var kinds map[string][]notify.Kind
	if len(n.Events) > 0 {
		var want []notify.Kind
		for _, ev := range n.Events {
			k, err := notify.ParseKind(ev)
			if err != nil {
				return nil, fmt.Errorf("notifications.events: %w", err)
			}
			want = append(want, k)
		}
		kinds = map[string][]notify.Kind{}
		for name := range senders {
			kinds[name] = want
		}
	}
	return notify.NewDispatcher(senders, notify.Options{Logger: log, Kinds: kinds}), nil
}

// secret is a file to read and the setting it fills.
type secret struct {
	path string
	dst  *string
}

// readSecrets reads each named file into its setting; an empty name is
// skipped. A list, not a map keyed by path: two settings may name the same
// file, and each must be filled.
func readSecrets(secrets ...secret) error {
	for _, s := range secrets {
		if s.path == "" {
			continue
		}
		v, err := config.ReadSecret(s.path)
		if err != nil {
			return err
		}
		*s.dst = v
	}
	return nil
}
