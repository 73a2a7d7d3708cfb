"""terraform/azure: the Azure OpenAI account and gpt-4o-mini deployment the app calls, and the outputs it reads."""

from __future__ import annotations

from mcv_core import stack

from .tfconfig import AWS, AZURE, Evaluator, block, literal, load


def _default(name: str):
    return literal(load(AZURE).variables[name]["default"])


def test_every_app_output_exists_and_is_described() -> None:
    for path, names in ((AWS, stack.AWS_OUTPUTS), (AZURE, stack.AZURE_OUTPUTS)):
        outputs = load(path).outputs
        missing = [name for name in names if name not in outputs]
        assert not missing, f"{path.name} lacks outputs {missing}"
        for name in names:
            assert len(literal(outputs[name]["description"])) > 10, name


def test_only_the_api_key_is_sensitive() -> None:
    for path in (AWS, AZURE):
        for name, output in load(path).outputs.items():
            assert output.get("sensitive", False) is (name == "azure_openai_api_key"), name


def test_openai_account() -> None:
    azure = load(AZURE)
    account = azure.resource("azurerm_cognitive_account")
    assert literal(account["kind"]) == "OpenAI"
    assert literal(account["sku_name"]) == "S0"
    # A custom subdomain makes the endpoint https://<name>.openai.azure.com/ (the PoC's DNS lesson).
    assert account["custom_subdomain_name"] == "${local.custom_subdomain_name}"
    assert account["local_auth_enabled"] == "${var.local_auth_enabled}"
    assert account["public_network_access_enabled"] == "${var.public_network_access_enabled}"
    assert _default("location") == "eastus2"
    assert _default("local_auth_enabled") is True
    assert _default("public_network_access_enabled") is True
    assert load(AZURE).resource("azurerm_resource_group")["location"] == "${var.location}"


def test_endpoint_output_is_what_azure_reports() -> None:
    outputs = load(AZURE).outputs
    assert outputs["azure_openai_endpoint"]["value"] == "${azurerm_cognitive_account.this.endpoint}"
    assert outputs["azure_openai_deployment"]["value"] == "${azurerm_cognitive_deployment.this.name}"
    key = outputs["azure_openai_api_key"]["value"]
    assert "azurerm_cognitive_account.this.primary_access_key" in key and "var.local_auth_enabled" in key


def test_gpt_4o_mini_deployment() -> None:
    azure = Evaluator(load(AZURE))
    deployment = azure.config.resource("azurerm_cognitive_deployment")
    assert azure.value(deployment["name"]) == stack.DEFAULT_AZURE_DEPLOYMENT
    model = block(deployment, "model")
    assert literal(model["format"]) == "OpenAI"
    assert azure.value(model["name"]) == stack.DEFAULT_AZURE_MODEL
    assert azure.value(model["version"]) == "2024-07-18"
    sku = block(deployment, "sku")
    assert azure.value(sku["name"]) == "Standard"
    assert azure.value(sku["capacity"]) == 1
    assert deployment["cognitive_account_id"] == "${azurerm_cognitive_account.this.id}"


def test_keyless_access_role_is_the_narrow_one() -> None:
    role = load(AZURE).resource("azurerm_role_assignment", "openai_user")
    assert literal(role["role_definition_name"]) == "Cognitive Services OpenAI User"
    assert role["scope"] == "${azurerm_cognitive_account.this.id}"


def test_more_deployments_for_the_catalogue() -> None:
    """The catalogue's other Azure targets (gpt-4o beside gpt-4o-mini) are deployments on the same account."""
    azure = load(AZURE)
    more = azure.resource("azurerm_cognitive_deployment", "more")
    assert more["for_each"] == "${var.more_deployments}"
    assert more["cognitive_account_id"] == "${azurerm_cognitive_account.this.id}"
    model = block(more, "model")
    assert (model["name"], model["version"]) == ("${each.value.model_name}", "${each.value.model_version}")
    assert _default("more_deployments") == {}
    assert "azurerm_cognitive_deployment.more" in str(azure.outputs["azure_openai_deployments"]["value"])


# --- Batch benchmarks ------------------------------------------------------------------------------------


def test_global_batch_deployment_is_optional_and_off_by_default() -> None:
    azure = Evaluator(load(AZURE))
    batch = azure.config.resource("azurerm_cognitive_deployment", "batch")
    assert batch["count"] == "${var.batch_deployment_enabled ? 1 : 0}"
    assert _default("batch_deployment_enabled") is False
    assert azure.value(batch["name"]) == stack.AZURE_BATCH_DEPLOYMENT
    assert batch["cognitive_account_id"] == "${azurerm_cognitive_account.this.id}"
    sku = block(batch, "sku")
    assert literal(sku["name"]) == "GlobalBatch"
    assert sku["capacity"] == "${var.batch_deployment_capacity}"
    # Azure refuses concurrent changes to one account: the batch deployment comes after the others.
    assert set(batch["depends_on"]) == {"${azurerm_cognitive_deployment.this}", "${azurerm_cognitive_deployment.more}"}


def test_global_batch_deployment_serves_the_same_model_and_version() -> None:
    azure = Evaluator(load(AZURE))
    online = block(azure.config.resource("azurerm_cognitive_deployment"), "model")
    batch = block(azure.config.resource("azurerm_cognitive_deployment", "batch"), "model")
    assert literal(batch["format"]) == "OpenAI"
    assert (batch["name"], batch["version"]) == (online["name"], online["version"])  # the same variables
    assert azure.value(batch["name"]) == stack.DEFAULT_AZURE_MODEL == "gpt-4o-mini"
    assert azure.value(batch["version"]) == azure.value(online["version"]) == "2024-07-18"


def test_batch_deployment_variables_are_typed_and_described() -> None:
    variables = load(AZURE).variables
    for name, kind in (
        ("batch_deployment_enabled", "bool"),
        ("batch_deployment_name", "string"),
        ("batch_deployment_capacity", "number"),
    ):
        assert variables[name]["type"] == kind, (name, variables[name]["type"])
        assert len(literal(variables[name]["description"])) > 30, name
    assert _default("batch_deployment_name") == stack.AZURE_BATCH_DEPLOYMENT
    assert _default("batch_deployment_capacity") >= 1
    capacity_rule = block(variables["batch_deployment_capacity"], "validation")["condition"]
    assert "var.batch_deployment_capacity >= 1" in capacity_rule


def test_batch_deployment_output_is_empty_when_off() -> None:
    output = load(AZURE).outputs["azure_openai_batch_deployment"]
    assert output["value"] == '${var.batch_deployment_enabled ? azurerm_cognitive_deployment.batch[0].name : ""}'
    assert "sensitive" not in output
    # The deployments map lists the online deployments only: a batch deployment takes no chat requests.
    assert "azurerm_cognitive_deployment.batch" not in str(load(AZURE).outputs["azure_openai_deployments"]["value"])
