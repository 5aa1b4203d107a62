package main

import (
	"github.com/spf13/cobra"

	"github.com/shiphook/shiphook/internal/client"
)

var partnerColumns = []column{{"ID", "id"}, {"NAME", "name"}, {"ACCESS", "access"}, {"CREATED", "created_at"}}

// partnersCommand is "shiphook partners": POST, GET, PATCH and DELETE
// /v1/partners.
func partnersCommand(o *clientOptions) *cobra.Command {
	var id, name, access string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a partner",
		Example: `  shiphook partners create --id acme --name "Acme Imports"
  shiphook partners create --name "Internal ERP" --access all`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			body := map[string]any{}
			setString(body, "id", id)
			setString(body, "name", name)
			setString(body, "access", access)
			raw, err := o.send(c.Context(), "POST", "/v1/partners", body)
			if err != nil {
				return err
			}
			return o.printObject(raw)
		},
	}
	create.Flags().StringVar(&id, "id", "", "the partner's id, [a-z0-9_-]{1,64} (default: one is made)")
	create.Flags().StringVar(&name, "name", "", "the partner's name")
	create.Flags().StringVar(&access, "access", "", "party (only shipments that name the partner; the default) or all")

	var q listQuery
	list := &cobra.Command{
		Use:   "list",
		Short: "List partners",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return o.list(c, "/v1/partners", &q, partnerColumns)
		},
	}
	pageFlags(list, &q)

	update := &cobra.Command{
		Use:   "update PARTNER",
		Short: "Change a partner's name or access",
		Args:  argsExactly(1),
		RunE: func(c *cobra.Command, args []string) error {
			body := map[string]any{}
			if c.Flags().Changed("name") {
				body["name"] = name
			}
			if c.Flags().Changed("access") {
				body["access"] = access
			}
			raw, err := o.send(c.Context(), "PATCH", client.Path("v1", "partners", args[0]), body)
			if err != nil {
				return err
			}
			return o.printObject(raw)
		},
	}
	update.Flags().StringVar(&name, "name", "", "the new name")
	update.Flags().StringVar(&access, "access", "", "party or all")

	return o.group("partners", "Create, list, show, change and delete partners", create, list,
		o.getCommand("get PARTNER", "Show a partner", func(args []string) string { return client.Path("v1", "partners", args[0]) }),
		update,
		o.deleteCommand("delete PARTNER", "Delete a partner with its endpoints and keys (its delivery log stays)",
			func(args []string) string { return client.Path("v1", "partners", args[0]) }, "deleted partner %s"),
	)
}

var keyColumns = []column{{"ID", "id"}, {"ROLE", "role"}, {"PARTNER", "partner_id"}, {"SOURCE", "source_id"}, {"NAME", "name"}, {"CREATED", "created_at"}}

// apiKeysCommand is "shiphook api-keys": POST, GET and DELETE
// /v1/api-keys.
func apiKeysCommand(o *clientOptions) *cobra.Command {
	var role, partner, source, name string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an API key (the answer is the only time the key is shown)",
		Example: `  shiphook api-keys create --role partner --partner acme
  shiphook api-keys create --role ingest --name TMS`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			body := map[string]any{"role": role}
			setString(body, "partner_id", partner)
			setString(body, "source_id", source)
			setString(body, "name", name)
			raw, err := o.send(c.Context(), "POST", "/v1/api-keys", body)
			if err != nil {
				return err
			}
			return o.printObject(raw)
		},
	}
	create.Flags().StringVar(&role, "role", "", "admin, ingest or partner (required)")
	create.Flags().StringVar(&partner, "partner", "", "the partner a partner key belongs to")
	create.Flags().StringVar(&source, "source", "", "the source an ingest key is bound to")
	create.Flags().StringVar(&name, "name", "", "a name to tell the key by")
	_ = create.MarkFlagRequired("role")

	var q listQuery
	list := &cobra.Command{
		Use:   "list",
		Short: "List API keys (never the keys themselves)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return o.list(c, "/v1/api-keys", &q, keyColumns)
		},
	}
	pageFlags(list, &q)
	return o.group("api-keys", "Create, list and delete API keys", create, list,
		o.deleteCommand("delete KEY_ID", "Delete an API key: it no longer signs in",
			func(args []string) string { return client.Path("v1", "api-keys", args[0]) }, "deleted API key %s"),
	)
}
