using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Marten;
using Marten.Events;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;
using Xapi.Cqrs.Api.Tests.Vms;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Projections;
using Xapi.Cqrs.Testing.Store;

namespace Xapi.Cqrs.Api.Tests.Projections;

/// <summary>
/// Projection rebuild (API.md "Audit replay and projections"): the list, and a rebuild that gives back the live read model
/// document for document, while reads keep answering and commands keep committing.
/// </summary>
public sealed class RebuildTests(XapiServer server) : IClassFixture<XapiServer>
{
    private static readonly string[] Operations = ["start", "pause", "unpause", "clean_shutdown", "hard_shutdown", "clean_reboot", "hard_reboot"];

    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    /// <summary>Runs <paramref name="count"/> lifecycle operations, each one the VM allows at that moment, over the VMs in turn.</summary>
    private async Task MixAsync(HttpClient client, Pool pool, IReadOnlyList<Guid> vms, int count, int seed)
    {
        var random = new Random(seed);
        await Parallel.ForEachAsync(Enumerable.Range(0, vms.Count), new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (i, _) =>
        {
            for (var n = 0; n < count / vms.Count; n++)
            {
                var vm = await pool.VmRecordAsync(vms[i]);
                var allowed = vm.GetProperty("allowedOperations").EnumerateArray().Select(o => o.GetString()).Where(o => Operations.Contains(o)).ToList();
                string op;
                lock (random)
                {
                    op = allowed[random.Next(allowed.Count)]!;
                }

                using var response = await client.PostAsync($"/api/vms/{vms[i]}/{op.Replace('_', '-')}", null, ct);
                response.StatusCode.ShouldBe(HttpStatusCode.OK, $"{op} of {vms[i]}: {await response.Content.ReadAsStringAsync(ct)}");
            }
        });
    }

    private async Task<Pool> PoolAsync(HttpClient client, int vms)
    {
        var pool = await Pool.CreateAsync(client, ct);
        await pool.HostAsync();
        await pool.HostAsync();
        for (var i = 0; i < vms; i++)
        {
            await pool.VmAsync();
        }

        return pool;
    }

    /// <summary>Every document of the projection's tables, by id, as stored (jsonb text).</summary>
    private async Task<Dictionary<string, string>> DocumentsAsync(ProjectionInfo info)
    {
        await using var connection = new NpgsqlConnection(TestDatabase.ConnectionString);
        await connection.OpenAsync(ct);
        var documents = new Dictionary<string, string>();
        foreach (var table in info.Documents.Select(ProjectionInfo.TableOf))
        {
            await using var command = new NpgsqlCommand($"select id::text, data::text from {server.Schema}.{table}", connection);
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                documents[table + "/" + reader.GetString(0)] = reader.GetString(1);
            }
        }

        return documents;
    }

    private async Task<JsonElement> RebuildAsync(HttpClient client, string name)
    {
        using var response = await client.PostAsync($"/api/admin/projections/{name}/rebuild", null, ct);
        response.StatusCode.ShouldBe(HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync(ct));
        var taskId = (await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("taskId").GetGuid();
        response.Headers.Location!.ToString().ShouldBe($"/api/tasks/{taskId}");
        return await FinishedAsync(client, taskId);
    }

    /// <summary>Long-polls the task (?minVersion=) until it is no longer pending.</summary>
    private async Task<JsonElement> FinishedAsync(HttpClient client, Guid taskId)
    {
        var task = await client.GetJson($"/api/tasks/{taskId}");
        for (var i = 0; i < 200 && task.GetProperty("status").GetString() == "pending"; i++)
        {
            task = await client.GetJson($"/api/tasks/{taskId}?minVersion={task.GetProperty("version").GetInt64() + 1}");
        }

        task.GetProperty("status").GetString().ShouldBe("success", task.ToString());
        return task;
    }

    [Fact]
    public async Task Every_projection_rebuilt_after_hundreds_of_mixed_operations_equals_the_live_one_document_for_document()
    {
        using var client = server.Client();
        var pool = await PoolAsync(client, 8);
        await MixAsync(client, pool, [.. pool.Vms.Select(v => v.Id)], 240, seed: 7);
        await server.Services.GetRequiredService<IDocumentStore>().WaitForNonStaleProjectionDataAsync(TimeSpan.FromSeconds(60));

        foreach (var info in XapiProjections.All)
        {
            var before = await DocumentsAsync(info);
            var task = await RebuildAsync(client, info.Name);
            var after = await DocumentsAsync(info);

            // The rebuild's own task is the one document that moved meanwhile (it reported progress and finished).
            if (info.Name == "task")
            {
                foreach (var key in after.Keys.Where(k => JsonDocument.Parse(after[k]).RootElement.GetProperty("objectClass").GetString() == "projection").ToList())
                {
                    before.Remove(key);
                    after.Remove(key);
                }
            }

            after.Count.ShouldBe(before.Count, info.Name);
            foreach (var (key, document) in before)
            {
                after.ShouldContainKey(key, info.Name);
                JsonDocument.Parse(after[key]).RootElement.ToString().ShouldBe(JsonDocument.Parse(document).RootElement.ToString(), $"{info.Name} {key}");
            }

            var result = JsonDocument.Parse(task.GetProperty("result").GetString()!).RootElement;
            result.GetProperty("documents").GetInt64().ShouldBeGreaterThanOrEqualTo(before.Count);
            result.GetProperty("events").GetInt64().ShouldBeGreaterThan(0);
        }

        (await DocumentsAsync(XapiProjections.All.Single(p => p.Name == "vm"))).Count.ShouldBeGreaterThanOrEqualTo(8);
    }

    [Fact]
    public async Task A_rebuild_while_commands_commit_and_reads_go_on_loses_nothing_and_every_read_answers()
    {
        using var client = server.Client();
        var pool = await PoolAsync(client, 6);
        var vms = pool.Vms.Select(v => v.Id).ToList();
        await MixAsync(client, pool, vms, 60, seed: 11);

        using var response = await client.PostAsync("/api/admin/projections/vm/rebuild", null, ct);
        response.StatusCode.ShouldBe(HttpStatusCode.Accepted);
        var taskId = (await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("taskId").GetGuid();
        using (var again = await client.PostAsync("/api/admin/projections/vm/rebuild", null, ct))
        {
            // Either still running (refused), or already done (a new rebuild may start): never a 500.
            again.StatusCode.ShouldBeOneOf(HttpStatusCode.Accepted, HttpStatusCode.Conflict);
        }

        var writes = MixAsync(client, pool, vms, 60, seed: 12);
        var reads = 0;
        var finished = FinishedAsync(client, taskId);
        while (!finished.IsCompleted || !writes.IsCompleted)
        {
            foreach (var vm in vms)
            {
                (await client.GetAsync($"/api/vms/{vm}", ct)).StatusCode.ShouldBe(HttpStatusCode.OK);
                reads++;
            }
        }

        await writes;
        await finished;
        reads.ShouldBeGreaterThan(0);

        // Every VM's document is its stream folded: nothing committed during the rebuild was lost in the switch.
        var store = server.Services.GetRequiredService<IDocumentStore>();
        await using var session = store.QuerySession();
        foreach (var vm in vms)
        {
            var live = await session.LoadAsync<Vm>(vm, ct);
            var folded = await session.Events.AggregateStreamAsync<Vm>(vm, token: ct);
            JsonSerializer.Serialize(live).ShouldBe(JsonSerializer.Serialize(folded), $"VM {vm}");
        }
    }

    [Fact]
    public async Task The_list_shows_every_projection_inline_and_async_and_an_unknown_one_is_not_found()
    {
        using var client = server.Client();
        var list = (await client.GetJson("/api/admin/projections")).EnumerateArray().ToList();
        list.Select(p => p.GetProperty("name").GetString()).ShouldBe(XapiProjections.All.Select(p => p.Name));
        list.Select(p => p.GetProperty("kind").GetString()).Distinct().Order().ShouldBe(["async", "inline"]);
        foreach (var p in list)
        {
            p.GetProperty("highWaterMark").GetInt64().ShouldBeGreaterThanOrEqualTo(p.GetProperty("position").GetInt64());
            p.GetProperty("lag").GetInt64().ShouldBe(p.GetProperty("highWaterMark").GetInt64() - p.GetProperty("position").GetInt64());
            p.GetProperty("version").GetInt32().ShouldBeGreaterThanOrEqualTo(1);
        }

        using var unknown = await client.PostAsync("/api/admin/projections/nope/rebuild", null, ct);
        unknown.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await unknown.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("params").EnumerateArray().Select(p => p.GetString()).ShouldBe(["projection", "nope"]);
        using var readOnly = await server.ClientWithRole("read-only");
        (await readOnly.PostAsync("/api/admin/projections/vm/rebuild", null, ct)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
    }
}
