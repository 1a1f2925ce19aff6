using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;
using Xapi.Cqrs.Application.Admin;

namespace Xapi.Cqrs.Api.Tests.Inventory;

public sealed class TokenTests(XapiServer server) : IClassFixture<XapiServer>
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    private async Task<JsonElement> NewToken(string subject, string role)
    {
        using var admin = server.Client();
        using var response = await admin.Post("/api/admin/tokens", new { subject, role });
        var text = await response.Content.ReadAsStringAsync(ct);
        response.StatusCode.ShouldBe(HttpStatusCode.Created, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    [Fact]
    public async Task Created_token_answers_subject_and_role_and_is_accepted()
    {
        var body = await NewToken("alice", "read-only");
        body.GetProperty("subject").GetString().ShouldBe("alice");
        body.GetProperty("role").GetString().ShouldBe("read-only");
        var token = body.GetProperty("token").GetString()!;
        token.ShouldStartWith("xapi_");

        using var client = server.Client(token);
        using var response = await client.GetAsync("/api/vms", ct);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Created_token_carries_its_role()
    {
        var token = (await NewToken("bob", "vm-operator")).GetProperty("token").GetString()!;

        using var client = server.Client(token);
        using var response = await client.Post("/api/vms", InventoryRequests.VmBody());
        await response.ShouldBeProblem(HttpStatusCode.Forbidden, "RBAC_PERMISSION_DENIED", "VM.create", "vm-operator");
    }

    [Fact]
    public async Task Created_token_records_its_subject_as_the_actor()
    {
        var token = (await NewToken("carol", "pool-admin")).GetProperty("token").GetString()!;
        using var client = server.Client(token);
        var network = await client.CreateNetwork("carols");

        await using var session = server.Services.GetRequiredService<IDocumentStore>().QuerySession();
        var events = await session.Events.FetchStreamAsync(network, token: ct);
        events.ShouldNotBeEmpty();
        events[0].Headers!["actor"].ToString().ShouldBe("carol");
    }

    [Fact]
    public async Task Tokens_are_stored_hashed()
    {
        var token = (await NewToken("dave", "vm-admin")).GetProperty("token").GetString()!;

        await using var session = server.Services.GetRequiredService<IDocumentStore>().QuerySession();
        (await session.LoadAsync<ApiToken>(token, ct)).ShouldBeNull();
        var stored = await session.LoadAsync<ApiToken>(TokenStore.Hash(token), ct);
        stored.ShouldNotBeNull();
        stored.Subject.ShouldBe("dave");
        stored.Role.ShouldBe(Role.VmAdmin);
        var all = await session.Query<ApiToken>().ToListAsync(ct);
        all.ShouldAllBe(t => t.Id != token);
    }

    [Fact]
    public async Task Unknown_role_is_value_not_supported()
    {
        using var admin = server.Client();
        using var response = await admin.Post("/api/admin/tokens", new { subject = "eve", role = "root" });
        await response.ShouldBeProblem(HttpStatusCode.BadRequest, "VALUE_NOT_SUPPORTED",
            "role", "root", "one of read-only, vm-operator, vm-admin, vm-power-admin, pool-operator, pool-admin");
    }

    [Fact]
    public async Task Empty_subject_is_invalid_value()
    {
        using var admin = server.Client();
        using var response = await admin.Post("/api/admin/tokens", new { subject = "", role = "read-only" });
        var problem = await response.ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", "subject", "");
        problem.GetProperty("errors").TryGetProperty("subject", out _).ShouldBeTrue();
    }

    [Theory]
    [InlineData("pool-operator")]
    [InlineData("vm-power-admin")]
    [InlineData("read-only")]
    public async Task Only_pool_admin_creates_tokens(string role)
    {
        using var client = await server.ClientWithRole(role);
        using var response = await client.PostAsJsonAsync("/api/admin/tokens", new { subject = "mallory", role = "pool-admin" }, ct);
        await response.ShouldBeProblem(HttpStatusCode.Forbidden, "RBAC_PERMISSION_DENIED", "token.create", role);
    }

    [Fact]
    public async Task No_token_is_401()
    {
        using var client = server.Client(token: null);
        using var response = await client.GetAsync("/api/vms", ct);
        await response.ShouldBeProblem(HttpStatusCode.Unauthorized, "SESSION_AUTHENTICATION_FAILED");
        response.Headers.WwwAuthenticate.ToString().ShouldBe("Bearer");
    }

    [Fact]
    public async Task Unknown_token_is_401()
    {
        using var client = server.Client("xapi_not-a-token-anyone-issued");
        using var response = await client.Post("/api/vms", InventoryRequests.VmBody());
        await response.ShouldBeProblem(HttpStatusCode.Unauthorized, "SESSION_AUTHENTICATION_FAILED");
    }

    [Fact]
    public async Task Non_bearer_authorization_is_401()
    {
        using var client = server.Client(token: null);
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", Convert.ToBase64String("admin:admin"u8.ToArray()));
        using var response = await client.GetAsync("/api/hosts", ct);
        await response.ShouldBeProblem(HttpStatusCode.Unauthorized, "SESSION_AUTHENTICATION_FAILED");
    }

    [Fact]
    public async Task Unauthenticated_create_writes_nothing()
    {
        using var admin = server.Client();
        var before = (await admin.GetJson("/api/networks")).GetArrayLength();
        using var client = server.Client("wrong");

        (await client.Post("/api/networks", new { nameLabel = "sneaky" })).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await admin.GetJson("/api/networks")).GetArrayLength().ShouldBe(before);
    }
}
