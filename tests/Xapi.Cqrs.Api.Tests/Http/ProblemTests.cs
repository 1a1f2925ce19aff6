using System.Net;
using System.Text;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Http;

public sealed class ProblemTests(XapiServer server) : IClassFixture<XapiServer>
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    private Task<HttpResponseMessage> PostRaw(HttpClient client, string path, string json) =>
        client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"), ct);

    [Fact]
    public async Task Malformed_json_is_invalid_value()
    {
        using var client = server.Client();
        using var response = await PostRaw(client, "/api/networks", """{"nameLabel": "net0", """);
        var problem = await response.ShouldBeProblemWithCode(HttpStatusCode.BadRequest, "INVALID_VALUE");
        problem.Params()[0].ShouldBe("body");
        problem.ToString().ShouldNotContain("Xapi.Cqrs");
    }

    [Fact]
    public async Task Malformed_json_writes_nothing()
    {
        using var client = server.Client();
        var before = (await client.GetJson("/api/vms")).GetArrayLength();

        using var response = await PostRaw(client, "/api/vms", """{"nameLabel": "vm", "vcpusMax": 2,, }""");
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await client.GetJson("/api/vms")).GetArrayLength().ShouldBe(before);
    }

    [Fact]
    public async Task Wrong_type_is_invalid_value_naming_the_field_without_internals()
    {
        using var client = server.Client();
        var network = await client.CreateNetwork();
        var sr = await client.CreateSr();
        var body = System.Text.Json.JsonSerializer.Serialize(InventoryRequests.HostBody([network], [sr], ("memoryTotal", "lots")));

        using var response = await PostRaw(client, "/api/hosts", body);
        var text = await response.Content.ReadAsStringAsync(ct);
        var problem = await response.ShouldBeProblemWithCode(HttpStatusCode.BadRequest, "INVALID_VALUE");
        problem.Params()[0].ShouldBe("memoryTotal");
        text.ShouldNotContain("Xapi.Cqrs");
        text.ShouldNotContain("System.");
    }

    [Fact]
    public async Task Wrong_type_in_a_vm_body_names_the_field()
    {
        using var client = server.Client();
        var body = System.Text.Json.JsonSerializer.Serialize(InventoryRequests.VmBody(("vcpusMax", "two")));

        using var response = await PostRaw(client, "/api/vms", body);
        var text = await response.Content.ReadAsStringAsync(ct);
        var problem = await response.ShouldBeProblemWithCode(HttpStatusCode.BadRequest, "INVALID_VALUE");
        problem.Params()[0].ShouldBe("vcpusMax");
        text.ShouldNotContain("Xapi.Cqrs");
    }

    [Fact]
    public async Task Empty_body_is_invalid_value_without_internals()
    {
        using var client = server.Client();
        using var response = await PostRaw(client, "/api/vms", "");
        var text = await response.Content.ReadAsStringAsync(ct);
        var problem = await response.ShouldBeProblemWithCode(HttpStatusCode.BadRequest, "INVALID_VALUE");
        problem.Params()[0].ShouldBe("body");
        text.ShouldNotContain("Xapi.Cqrs");
    }

    [Fact]
    public async Task Oversized_name_label_is_invalid_value()
    {
        using var client = server.Client();
        var name = new string('n', 300);
        using var response = await client.Post("/api/networks", new { nameLabel = name });
        // The value is echoed shortened to 64 characters, never the whole 300.
        var problem = await response.ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", "name_label", new string('n', 64) + "…");
        problem.GetProperty("errors").TryGetProperty("nameLabel", out _).ShouldBeTrue();
    }

    [Fact]
    public async Task Name_label_of_255_characters_is_accepted()
    {
        using var client = server.Client();
        var name = new string('m', 255);
        var id = await client.CreateNetwork(name);
        (await client.GetJson($"/api/networks/{id}")).GetProperty("nameLabel").GetString().ShouldBe(name);
    }

    [Fact]
    public async Task Body_over_one_mebibyte_is_413()
    {
        using var client = server.Client();
        var before = (await client.GetJson("/api/networks")).GetArrayLength();
        var body = $$"""{"nameLabel": "{{new string('x', (1 << 20) + 1024)}}"}""";

        using var response = await PostRaw(client, "/api/networks", body);
        await response.ShouldBeProblem(HttpStatusCode.RequestEntityTooLarge, "INVALID_VALUE", "body", "too large");
        (await client.GetJson("/api/networks")).GetArrayLength().ShouldBe(before);
    }

    [Fact]
    public async Task Unknown_api_path_is_handle_invalid()
    {
        using var client = server.Client();
        using var response = await client.GetAsync("/api/frobnicators/1", ct);
        await response.ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "path", "/api/frobnicators/1");
    }

    [Fact]
    public async Task Id_that_is_not_a_uuid_is_not_found()
    {
        using var client = server.Client();
        using var response = await client.GetAsync("/api/vms/not-a-uuid", ct);
        await response.ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "path", "/api/vms/not-a-uuid");
    }

    [Fact]
    public async Task Problem_carries_type_title_detail_and_correlation_id()
    {
        using var client = server.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/vms/{Guid.NewGuid()}");
        request.Headers.Add("X-Correlation-Id", "problem-corr-1");
        using var response = await client.SendAsync(request, ct);

        var problem = await response.ShouldBeProblemWithCode(HttpStatusCode.NotFound, "HANDLE_INVALID");
        problem.GetProperty("type").GetString().ShouldNotBeNullOrEmpty();
        problem.GetProperty("title").GetString().ShouldBe("HANDLE_INVALID");
        problem.GetProperty("detail").GetString().ShouldNotBeNullOrEmpty();
        problem.GetProperty("correlationId").GetString().ShouldBe("problem-corr-1");
    }
}
