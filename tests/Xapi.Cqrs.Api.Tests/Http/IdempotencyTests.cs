using System.Net;
using System.Net.Http.Json;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Http;

public sealed class IdempotencyTests(XapiServer server) : IClassFixture<XapiServer>
{
    private const string KeyHeader = "Idempotency-Key";
    private const string ReplayedHeader = "Idempotent-Replayed";
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    private async Task<HttpResponseMessage> PostWithKey(HttpClient client, string path, object body, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        request.Headers.Add(KeyHeader, key);
        return await client.SendAsync(request, ct);
    }

    private async Task<long> EventCount()
    {
        await using var session = server.Services.GetRequiredService<IDocumentStore>().QuerySession();
        return await session.Events.QueryAllRawEvents().LongCountAsync(ct);
    }

    [Fact]
    public async Task Retried_vm_create_answers_the_first_answer_and_writes_nothing()
    {
        using var client = server.Client();
        var key = Guid.NewGuid().ToString();
        var body = InventoryRequests.VmBody(("nameLabel", "once"));

        using var first = await PostWithKey(client, "/api/vms", body, key);
        var firstText = await first.Content.ReadAsStringAsync(ct);
        var id = await first.CreatedId();
        first.Headers.Contains(ReplayedHeader).ShouldBeFalse();
        var vmsBefore = (await client.GetJson("/api/vms")).GetArrayLength();
        var versionBefore = (await client.GetJson($"/api/vms/{id}")).GetProperty("version").GetInt64();
        var eventsBefore = await EventCount();

        using var retry = await PostWithKey(client, "/api/vms", body, key);
        retry.StatusCode.ShouldBe(first.StatusCode);
        (await retry.Content.ReadAsStringAsync(ct)).ShouldBe(firstText);
        retry.Headers.GetValues(ReplayedHeader).ShouldBe(["true"]);
        retry.Headers.Location.ShouldBe(first.Headers.Location);

        (await client.GetJson("/api/vms")).GetArrayLength().ShouldBe(vmsBefore);
        (await client.GetJson($"/api/vms/{id}")).GetProperty("version").GetInt64().ShouldBe(versionBefore);
        (await EventCount()).ShouldBe(eventsBefore);
    }

    [Fact]
    public async Task Retried_vbd_create_leaves_the_vm_version_unchanged()
    {
        using var client = server.Client();
        var vm = await client.CreateVm();
        var vdi = await client.CreateVdi();
        var key = Guid.NewGuid().ToString();
        var body = new { vdiId = vdi, userdevice = "0", mode = "RW", type = "Disk" };

        using var first = await PostWithKey(client, $"/api/vms/{vm}/vbds", body, key);
        var firstText = await first.Content.ReadAsStringAsync(ct);
        await first.CreatedId();
        var vmBefore = await client.GetJson($"/api/vms/{vm}");

        using var retry = await PostWithKey(client, $"/api/vms/{vm}/vbds", body, key);
        retry.StatusCode.ShouldBe(HttpStatusCode.Created);
        (await retry.Content.ReadAsStringAsync(ct)).ShouldBe(firstText);
        retry.Headers.GetValues(ReplayedHeader).ShouldBe(["true"]);

        var vmAfter = await client.GetJson($"/api/vms/{vm}");
        vmAfter.GetProperty("version").GetInt64().ShouldBe(vmBefore.GetProperty("version").GetInt64());
        vmAfter.GetProperty("vbds").GetArrayLength().ShouldBe(1);
    }

    [Fact]
    public async Task Retried_refusal_answers_the_same_refusal()
    {
        using var client = server.Client();
        var key = Guid.NewGuid().ToString();
        var body = new { nameLabel = "" };

        using var first = await PostWithKey(client, "/api/networks", body, key);
        var firstText = await first.Content.ReadAsStringAsync(ct);
        first.StatusCode.ShouldBe(HttpStatusCode.BadRequest);

        using var retry = await PostWithKey(client, "/api/networks", body, key);
        await retry.ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", "name_label", "");
        retry.Headers.GetValues(ReplayedHeader).ShouldBe(["true"]);
        (await retry.Content.ReadAsStringAsync(ct)).ShouldBe(firstText);
    }

    [Fact]
    public async Task Same_key_with_another_body_is_422()
    {
        using var client = server.Client();
        var key = Guid.NewGuid().ToString();
        using var first = await PostWithKey(client, "/api/vms", InventoryRequests.VmBody(("nameLabel", "a")), key);
        await first.CreatedId();
        var vmsBefore = (await client.GetJson("/api/vms")).GetArrayLength();

        using var other = await PostWithKey(client, "/api/vms", InventoryRequests.VmBody(("nameLabel", "b")), key);
        await other.ShouldBeProblem(HttpStatusCode.UnprocessableEntity, "INVALID_VALUE", KeyHeader, key, "already used with a different request");
        other.Headers.Contains(ReplayedHeader).ShouldBeFalse();
        (await client.GetJson("/api/vms")).GetArrayLength().ShouldBe(vmsBefore);
    }

    [Fact]
    public async Task Different_keys_create_two_objects()
    {
        using var client = server.Client();
        var body = new { nameLabel = "twice" };

        using var first = await PostWithKey(client, "/api/networks", body, Guid.NewGuid().ToString());
        using var second = await PostWithKey(client, "/api/networks", body, Guid.NewGuid().ToString());

        (await first.CreatedId()).ShouldNotBe(await second.CreatedId());
        second.Headers.Contains(ReplayedHeader).ShouldBeFalse();
    }

    [Fact]
    public async Task Same_key_from_another_caller_is_not_a_replay()
    {
        using var admin = server.Client();
        using var vmAdmin = await server.ClientWithRole("vm-admin");
        var key = Guid.NewGuid().ToString();
        var body = InventoryRequests.VmBody(("nameLabel", "mine"));

        using var first = await PostWithKey(admin, "/api/vms", body, key);
        using var second = await PostWithKey(vmAdmin, "/api/vms", body, key);

        (await second.CreatedId()).ShouldNotBe(await first.CreatedId());
        second.Headers.Contains(ReplayedHeader).ShouldBeFalse();
    }

    [Fact]
    public async Task Key_longer_than_200_characters_is_invalid_value()
    {
        using var client = server.Client();
        using var response = await PostWithKey(client, "/api/networks", new { nameLabel = "n" }, new string('k', 201));
        await response.ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", KeyHeader, "longer than 200 characters");
    }
}
