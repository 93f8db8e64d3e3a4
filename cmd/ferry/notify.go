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
		if err := readSecrets(map[string]*string{e.UsernameFile: &cfg.Username, e.PasswordFile: &cfg.Password}); err != nil {
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
		if err := readSecrets(map[string]*string{w.TokenFile: &cfg.Token, w.SecretFile: &cfg.Secret}); err != nil {
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
		if err := readSecrets(map[string]*string{sl.URLFile: &cfg.URL}); err != nil {
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

// readSecrets reads each named file into its string; an empty name is skipped.
func readSecrets(files map[string]*string) error {
	for path, dst := range files {
		if path == "" {
			continue
		}
		v, err := config.ReadSecret(path)
		if err != nil {
			return err
		}
		*dst = v
	}
	return nil
}
