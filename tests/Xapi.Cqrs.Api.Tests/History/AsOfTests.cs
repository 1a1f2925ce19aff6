using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Marten;
using Marten.Events;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;
using Xapi.Cqrs.Api.Tests.Vms;
using Xapi.Cqrs.Projections.Snapshots;

namespace Xapi.Cqrs.Api.Tests.History;

/// <summary>
/// As-of (API.md "Audit replay"): GET /api/vms/{id}/history?version=N / ?at=T and GET /api/hosts/{id}/history?at=T give the
/// record as it was, rebuilt from the events. Checked against the read model as it was read at those moments.
/// </summary>
public sealed class AsOfTests(XapiServer server) : IClassFixture<XapiServer>
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    /// <summary>The records read after each step, with the commit time of the VM's event at each record's version.</summary>
    private async Task<List<(JsonElement Record, DateTimeOffset At)>> AtWhatTimesAsync(Pool pool, Guid stream, IEnumerable<JsonElement> records)
    {
        var history = (await pool.GetAsync($"/api/vms/{stream}/history?limit=10000")).EnumerateArray().ToList();
        return [.. records.Select(r => (r, history.Single(e => e.GetProperty("stream").GetGuid() == stream
                && e.GetProperty("version").GetInt64() == r.GetProperty("version").GetInt64()).GetProperty("at").GetDateTimeOffset()))];
    }

    [Fact]
    public async Task As_of_every_version_and_moment_of_a_whole_lifecycle_is_the_record_read_then()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var host = await pool.HostAsync();
        var vm = (await pool.VmAsync()).Id;
        var records = new List<JsonElement> { await pool.VmRecordAsync(vm) };
        var hostRecords = new List<JsonElement> { await pool.HostRecordAsync(host) };

        // A failed start first, then every lifecycle operation.
        (await client.PostAsJsonAsync($"/api/hosts/{host}/hypervisor/faults", new { step = "build", error = "INTERNAL_ERROR", count = 1 }, ct)).EnsureSuccessStatusCode();
        (await client.PostAsync($"/api/vms/{vm}/start", null, ct)).StatusCode.ShouldNotBe(HttpStatusCode.OK);
        records.Add(await pool.VmRecordAsync(vm));
        foreach (var op in new[] { "start", "pause", "unpause", "clean-reboot", "hard-reboot", "clean-shutdown", "start", "hard-shutdown" })
        {
            records.Add(await (await client.PostAsync($"/api/vms/{vm}/{op}", null, ct)).ShouldBeOkAsync());
            hostRecords.Add(await pool.HostRecordAsync(host));
        }

        records.Select(r => r.GetProperty("version").GetInt64()).ShouldBeInOrder(SortDirection.Ascending);
        foreach (var (record, at) in await AtWhatTimesAsync(pool, vm, records))
        {
            var version = record.GetProperty("version").GetInt64();
            (await pool.GetAsync($"/api/vms/{vm}/history?version={version}")).ToString().ShouldBe(record.ToString(), $"version {version}");
            (await pool.GetAsync($"/api/vms/{vm}/history?at={Uri.EscapeDataString(at.ToString("O"))}")).ToString().ShouldBe(record.ToString(), $"at {at:O}");
        }

        foreach (var record in hostRecords)
        {
            var version = record.GetProperty("version").GetInt64();
            (await pool.GetAsync($"/api/hosts/{host}/history?version={version}")).ToString().ShouldBe(record.ToString(), $"host version {version}");
        }

        // The host as it was while the VM ran: the VM resident, its memory taken; and now: free again.
        var running = hostRecords[1];
        running.GetProperty("residentVms").EnumerateArray().Select(v => v.GetGuid()).ShouldContain(vm);
        var hostEvents = (await pool.GetAsync($"/api/hosts/{host}/history")).EnumerateArray().ToList();
        var residentAt = hostEvents.First(e => e.GetProperty("type").GetString() == "vm_resident_on_host").GetProperty("at").GetDateTimeOffset();
        var then = await pool.GetAsync($"/api/hosts/{host}/history?at={Uri.EscapeDataString(residentAt.ToString("O"))}");
        then.GetProperty("residentVms").EnumerateArray().Select(v => v.GetGuid()).ShouldContain(vm);
        then.GetProperty("memoryFree").GetInt64().ShouldBeLessThan(hostRecords[^1].GetProperty("memoryFree").GetInt64());
    }

    [Fact]
    public async Task A_long_stream_is_read_from_its_snapshots_and_still_gives_the_records_read_then()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        await pool.HostAsync();
        var vm = (await pool.VmAsync()).Id;
        var records = new List<JsonElement> { await (await client.PostAsync($"/api/vms/{vm}/start", null, ct)).ShouldBeOkAsync() };
        while (records[^1].GetProperty("version").GetInt64() < 3 * StateFold.Interval)
        {
            records.Add(await (await client.PostAsync($"/api/vms/{vm}/pause", null, ct)).ShouldBeOkAsync());
            records.Add(await (await client.PostAsync($"/api/vms/{vm}/unpause", null, ct)).ShouldBeOkAsync());
        }

        var store = server.Services.GetRequiredService<IDocumentStore>();
        await store.WaitForNonStaleProjectionDataAsync(TimeSpan.FromSeconds(60));
        await using (var session = store.QuerySession())
        {
            var snapshots = await session.Query<VmSnapshot>().Where(s => s.StreamId == vm).OrderBy(s => s.Version).ToListAsync(ct);
            snapshots.Select(s => s.Version).ShouldBe([StateFold.Interval, 2 * StateFold.Interval, 3 * StateFold.Interval]);
        }

        foreach (var (record, at) in await AtWhatTimesAsync(pool, vm, records))
        {
            var version = record.GetProperty("version").GetInt64();
            (await pool.GetAsync($"/api/vms/{vm}/history?version={version}")).ToString().ShouldBe(record.ToString(), $"version {version}");
            (await pool.GetAsync($"/api/vms/{vm}/history?at={Uri.EscapeDataString(at.ToString("O"))}")).ToString().ShouldBe(record.ToString(), $"at {at:O}");
        }
    }

    [Theory]
    [InlineData("version=0", HttpStatusCode.BadRequest, "INVALID_VALUE")]
    [InlineData("version=-3", HttpStatusCode.BadRequest, "INVALID_VALUE")]
    [InlineData("at=yesterday", HttpStatusCode.BadRequest, "INVALID_VALUE")]
    [InlineData("at=2000-01-01T00:00:00Z", HttpStatusCode.NotFound, "HANDLE_INVALID")]
    public async Task Bad_or_too_early_as_of_answers_a_problem(string query, HttpStatusCode status, string code)
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var vm = (await pool.VmAsync()).Id;
        using var response = await client.GetAsync($"/api/vms/{vm}/history?{query}", ct);
        response.StatusCode.ShouldBe(status);
        (await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("code").GetString().ShouldBe(code);
        (await client.GetAsync($"/api/vms/{Guid.NewGuid()}/history?version=1", ct)).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }
}
