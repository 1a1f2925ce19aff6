using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;
using Xapi.Cqrs.Application.Vms;
using Xapi.Cqrs.Testing.Store;

namespace Xapi.Cqrs.Api.Tests.Vms;

/// <summary>A service whose starts wait at most one second for the placement loop.</summary>
public sealed class ImpatientServer : XapiServer
{
    protected override IEnumerable<string> Settings => ["--Xapi:Placement:DecideWithin=00:00:01"];
}

/// <summary>
/// Issue "the start path at pool scale": a start that cannot be decided in time answers 503 TOO_BUSY with a
/// Retry-After, never a 500, and writes nothing. The placement lease is held from outside (as another service
/// node would hold it), so the loop's current batch waits and the start queued behind it cannot be taken.
/// </summary>
public sealed class StartBusyTests(ImpatientServer server) : IClassFixture<ImpatientServer>
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    [Fact]
    public async Task Start_that_cannot_be_decided_in_time_answers_503_too_busy_and_writes_nothing()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        await pool.HostAsync(memoryTotal: 16 * Pool.GiB);
        var first = await pool.VmAsync();
        var second = await pool.VmAsync();
        var historyBefore = (await pool.GetAsync($"/api/vms/{second.Id}/history")).GetArrayLength();

        // Another node holds the pool's placement lease.
        await using var lease = new NpgsqlConnection(TestDatabase.ConnectionString);
        await lease.OpenAsync(ct);
        await using var hold = await lease.BeginTransactionAsync(ct);
        await using (var take = new NpgsqlCommand("select pg_advisory_xact_lock(hashtextextended($1, 0))", lease, hold))
        {
            take.Parameters.Add(new NpgsqlParameter { Value = $"{server.Schema}:placement" });
            await take.ExecuteNonQueryAsync(ct);
        }

        // The first start is taken by the loop, which then waits for the lease; the second waits behind it.
        var taken = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var decider = server.Services.GetRequiredService<StartDecider>();
        void OnTaken(int _) => taken.TrySetResult();
        decider.BatchTaken += OnTaken;
        var blocked = client.PostAsJsonAsync($"/api/vms/{first.Id}/start", new { }, ct);
        await taken.Task.WaitAsync(ct);
        decider.BatchTaken -= OnTaken;
        var busy = await client.PostAsJsonAsync($"/api/vms/{second.Id}/start", new { }, ct);

        await busy.ShouldBeProblem(HttpStatusCode.ServiceUnavailable, "TOO_BUSY");
        busy.Headers.RetryAfter.ShouldNotBeNull();
        (await pool.GetAsync($"/api/vms/{second.Id}/history")).GetArrayLength().ShouldBe(historyBefore, "nothing of the refused start was written");
        (await pool.VmRecordAsync(second.Id)).GetProperty("powerState").GetString().ShouldBe("Halted");

        // Once the lease is free the blocked start completes, and the busy one may be retried.
        await hold.RollbackAsync(ct);
        (await blocked).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.PostAsJsonAsync($"/api/vms/{second.Id}/start", new { }, ct)).StatusCode.ShouldBe(HttpStatusCode.OK);
        await pool.AssertNoOvercommitAsync();
    }
}
