"""What the schema check knows that the provider packages do not carry: every hand-written fact, with its source.

The provider schemas themselves come from the packages (provider_schema.py). Written here by hand, because no
package carries them: Terraform's own language (meta-arguments, the lifecycle block, dynamic blocks, the
top-level block types, the built-in `terraform` provider), the rules by which Terraform converts a literal to
an argument's type, and the provider deprecations that the assemblies drop. Each table names where it was read.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- Terraform's language (v1.6, the oldest release the roots allow: required_version = ">= 1.6") -------------
# hashicorp/terraform internal/configs/parser_config.go, configFileSchema: the block types a .tf file may hold in
# 1.6 ("removed" came in 1.7 and "ephemeral" in 1.10: 1.6 refuses both, so they are not listed).
TOP_LEVEL_BLOCKS = frozenset(
    {"terraform", "provider", "variable", "locals", "output", "module", "resource", "data", "moved", "import", "check"}
)

# hashicorp/terraform internal/configs/resource.go: commonResourceAttributes, resourceBlockSchema, dataBlockSchema.
RESOURCE_META_ARGUMENTS = frozenset({"count", "for_each", "provider", "depends_on"})
RESOURCE_META_BLOCKS = frozenset({"lifecycle", "connection", "provisioner"})
DATA_META_BLOCKS = frozenset({"lifecycle"})

# internal/configs/resource.go, resourceLifecycleBlockSchema and the checks after it: a data source's lifecycle
# block takes only the condition blocks. internal/configs/checks.go, checkRuleBlockSchema: both arguments of a
# precondition or postcondition are required.
RESOURCE_LIFECYCLE_ARGUMENTS = frozenset(
    {"create_before_destroy", "prevent_destroy", "ignore_changes", "replace_triggered_by"}
)
DATA_LIFECYCLE_ARGUMENTS: frozenset[str] = frozenset()
LIFECYCLE_BLOCKS = frozenset({"precondition", "postcondition"})
CONDITION_ARGUMENTS = frozenset({"condition", "error_message"})

# internal/configs/module_call.go, moduleBlockSchema: the arguments of a module call that are not its inputs.
MODULE_META_ARGUMENTS = frozenset({"source", "version", "count", "for_each", "providers", "depends_on"})

# internal/configs/provider.go, providerBlockSchema: the provider block's own meta-arguments.
PROVIDER_META_ARGUMENTS = frozenset({"alias", "version"})

# hashicorp/hcl ext/dynblock/schema.go, dynamicBlockBodySchemaNoLabels (a provider's nested blocks take no labels,
# so "labels" is not allowed): a dynamic block's arguments, and its one content block.
DYNAMIC_ARGUMENTS = frozenset({"for_each", "iterator"})
DYNAMIC_REQUIRED_ARGUMENTS = frozenset({"for_each"})

# The built-in provider that needs no required_providers entry (internal/addrs/provider.go,
# NewBuiltInProvider: terraform.io/builtin/terraform), in the compact format of provider_schema.py. Its resource
# terraform_data: two optional arguments of dynamic type ("any"), id and output computed only
# (internal/builtin/providers/terraform/resource_data.go, dataStoreResourceSchema;
# https://developer.hashicorp.com/terraform/language/resources/terraform-data). Its data source
# terraform_remote_state: backend required, config and defaults dynamic, workspace a string, outputs computed
# (internal/builtin/providers/terraform/data_source_state.go, dataSourceRemoteStateGetSchema).
BUILTIN_SOURCE = "terraform.io/builtin/terraform"
BUILTIN_SCHEMA = {
    "format": None,
    "source": BUILTIN_SOURCE,
    "version": "built-in",
    "package": "Terraform itself",
    "provider": {},
    "resources": {"terraform_data": {"a": {"input": ["any", 0], "triggers_replace": ["any", 0]}}},
    "data": {
        "terraform_remote_state": {
            "a": {"backend": ["string", 1], "config": ["any", 0], "defaults": ["any", 0], "workspace": ["string", 0]}
        }
    },
}

# --- Conversion of literals --------------------------------------------------------------------------------
# https://developer.hashicorp.com/terraform/language/expressions/type-constraints#conversion-of-primitive-types
# A number or bool converts to string; a string converts to number only if it spells a number, and to bool only
# if it is "true" or "false"; a tuple converts to a list or set, an object to a map or object; nothing else.
BOOL_STRINGS = frozenset({"true", "false"})


# --- Deprecations the assemblies do not carry ---------------------------------------------------------------
@dataclass(frozen=True)
class Deprecation:
    source: str  # provider source address
    kind: str  # "resource" or "data"
    type: str
    path: str  # the argument or block, dotted through nested blocks
    since: str  # the first provider version that deprecates it
    replacement: str  # dotted like path; provider_schema tests check both exist in the pinned schema
    reference: str  # where the deprecation is stated


DEPRECATIONS = (
    # Multi-attribute keys for global secondary indexes: key_schema blocks replace hash_key and range_key
    # (released in 6.29.0). The maintainers' statement that both are deprecated is in
    # https://github.com/hashicorp/terraform-provider-aws/issues/46197 .
    Deprecation(
        "hashicorp/aws",
        "resource",
        "aws_dynamodb_table",
        "global_secondary_index.hash_key",
        "6.29.0",
        "global_secondary_index.key_schema",
        "https://github.com/hashicorp/terraform-provider-aws/pull/45357",
    ),
    Deprecation(
        "hashicorp/aws",
        "resource",
        "aws_dynamodb_table",
        "global_secondary_index.range_key",
        "6.29.0",
        "global_secondary_index.key_schema",
        "https://github.com/hashicorp/terraform-provider-aws/pull/45357",
    ),
)
