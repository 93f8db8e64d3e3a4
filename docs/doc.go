// Package docs holds ferry's reference pages (*.md). It has no code: its
// tests keep the pages true to the code, so a configuration key, a policy
// input field or a fleet-repo file layout cannot change without the page.
package docs
