using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

using Xapi.Cqrs.Api.Tests.Vms;

namespace Xapi.Cqrs.Api.Tests.History;

/// <summary>GET /api/vms/{id}/history (API.md "Audit replay"): paging, filters, the host events about the VM, the ndjson export.</summary>
public sealed class HistoryTests(XapiServer server) : IClassFixture<XapiServer>
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    private async Task<(HttpClient Client, Pool Pool, PoolVm Vm, Guid Host)> RunOnceAsync()
    {
        var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var host = await pool.HostAsync();
        var vm = await pool.VmAsync();
        (await client.PostAsync($"/api/vms/{vm.Id}/start", null, ct)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.PostAsync($"/api/vms/{vm.Id}/hard-shutdown", null, ct)).StatusCode.ShouldBe(HttpStatusCode.OK);
        return (client, pool, vm, host);
    }

    [Fact]
    public async Task Pages_follow_the_link_header_and_together_are_the_whole_history_in_commit_order()
    {
        var (client, pool, vm, _) = await RunOnceAsync();
        using var _ = client;
        var whole = (await pool.GetAsync($"/api/vms/{vm.Id}/history")).EnumerateArray().Select(e => e.GetProperty("seq").GetInt64()).ToList();
        whole.Count.ShouldBeGreaterThan(10);
        whole.ShouldBeInOrder();

        var paged = new List<long>();
        var next = $"/api/vms/{vm.Id}/history?limit=4";
        while (next is not null)
        {
            using var response = await client.GetAsync(next, ct);
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            var page = (await response.Content.ReadFromJsonAsync<JsonElement>(ct)).EnumerateArray().Select(e => e.GetProperty("seq").GetInt64()).ToList();
            page.Count.ShouldBeLessThanOrEqualTo(4);
            paged.AddRange(page);
            next = response.Headers.TryGetValues("Link", out var links) ? links.Single().Split('<', '>')[1] : null;
            next?.ShouldContain("limit=4");
        }

        paged.ShouldBe(whole);
    }

    [Fact]
    public async Task The_history_holds_the_host_reservation_events_of_the_vm_and_filters_by_type()
    {
        var (client, pool, vm, host) = await RunOnceAsync();
        using var _ = client;
        var history = (await pool.GetAsync($"/api/vms/{vm.Id}/history")).EnumerateArray().ToList();
        foreach (var type in new[] { "vm_scheduled_on_host", "vm_resident_on_host", "vm_left_host" })
        {
            history.ShouldContain(e => e.GetProperty("type").GetString() == type && e.GetProperty("stream").GetGuid() == host, type);
        }

        var started = (await pool.GetAsync($"/api/vms/{vm.Id}/history?type=resident_on_set")).EnumerateArray().ToList();
        started.ShouldHaveSingleItem().GetProperty("stream").GetGuid().ShouldBe(vm.Id);
        (await pool.GetAsync($"/api/vms/{vm.Id}/history?from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z")).EnumerateArray().ShouldBeEmpty();
    }

    [Fact]
    public async Task Ndjson_streams_the_whole_history_one_event_a_line()
    {
        var (client, pool, vm, _) = await RunOnceAsync();
        using var _ = client;
        var whole = (await pool.GetAsync($"/api/vms/{vm.Id}/history")).EnumerateArray().Select(e => e.GetProperty("seq").GetInt64()).ToList();

        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/vms/{vm.Id}/history?limit=2");
        request.Headers.Accept.ParseAdd("application/x-ndjson");
        using var response = await client.SendAsync(request, ct);

        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/x-ndjson");
        var lines = (await response.Content.ReadAsStringAsync(ct)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("seq").GetInt64()).ShouldBe(whole, "no paging: every event");
        (await client.GetStringAsync($"/api/vms/{vm.Id}/history?format=ndjson", ct)).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length.ShouldBe(whole.Count);
    }

    [Theory]
    [InlineData("limit=0")]
    [InlineData("limit=10001")]
    [InlineData("after=-1")]
    [InlineData("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z")]
    [InlineData("limit=ten")]
    public async Task Bad_paging_or_filters_are_a_bad_request(string query)
    {
        var (client, _, vm, _) = await RunOnceAsync();
        using var _ = client;
        (await client.GetAsync($"/api/vms/{vm.Id}/history?{query}", ct)).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
    }
}
