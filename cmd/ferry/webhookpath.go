package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/ferry-dev/ferry/agent/webhook"
	"github.com/spf13/cobra"
)

// webhookPathCmd is `ferry webhook-path`: the secret path for registries
// that sign nothing (Docker Hub, Quay). ferry never logs it, so this is
// where an operator gets it.
func webhookPathCmd() *cobra.Command {
	var tokenFile string
	cmd := &cobra.Command{
		Use:   "webhook-path --token-file FILE",
		Short: "Print the secret webhook path for registries that sign nothing (Docker Hub, Quay)",
		Long: `webhook-path prints /hooks/registry/<hex SHA-256 of "ferry-webhook-path:" and the
webhook secret (without the whitespace around it)>, the URL path Docker Hub and
Quay are pointed at: they send no credentials, so the path is the credential. The secret is read from --token-file
(the file webhooks.tokenFile names), else from FERRY_WEBHOOK_TOKEN. The path is a
secret: whoever knows it can ask ferry to look for new images (never more: the
registry is read and the policies decide as for any other push).`,
		Example: `  ferry webhook-path --token-file /etc/ferry/webhook-token
  FERRY_WEBHOOK_TOKEN=... ferry webhook-path`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			secret := webhook.CleanSecret(os.Getenv("FERRY_WEBHOOK_TOKEN"))
			if tokenFile != "" {
				var err error
				if secret, err = webhook.ReadSecretFile(tokenFile); err != nil {
					return err
				}
			}
			if secret == "" {
				return errors.New("no webhook secret: pass --token-file (the file webhooks.tokenFile names) or set FERRY_WEBHOOK_TOKEN")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "/hooks/registry/%s\n", webhook.PathToken(secret))
			return nil
		},
	}
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "the webhook secret's file (webhooks.tokenFile)")
	return cmd
}
