using System.Net;
using System.Net.Http.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Vms;

/// <summary>What-if (API.md "VM lifecycle", ?dryRun=true): the decision a start would take now, from the same pure decision, writing nothing.</summary>
public sealed class DryRunTests(XapiServer server) : IClassFixture<XapiServer>
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    [Fact]
    public async Task Dry_run_start_answers_the_host_and_candidates_and_writes_nothing()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var roomy = await pool.HostAsync(memoryTotal: 16 * Pool.GiB);
        var disabled = await pool.HostAsync(memoryTotal: 32 * Pool.GiB);
        (await client.PostAsync($"/api/hosts/{disabled}/disable", null, ct)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var vm = await pool.VmAsync();
        var before = await pool.VmRecordAsync(vm.Id);
        var historyBefore = (await pool.GetAsync($"/api/vms/{vm.Id}/history")).GetArrayLength();

        var answer = await (await client.PostAsJsonAsync($"/api/vms/{vm.Id}/start?dryRun=true", new { }, ct)).ShouldBeOkAsync();

        answer.GetProperty("host").GetGuid().ShouldBe(roomy);
        answer.TryGetProperty("seed", out _).ShouldBeTrue();
        var candidates = answer.GetProperty("candidates").EnumerateArray().ToDictionary(c => c.GetProperty("host").GetGuid());
        pool.Hosts.ShouldAllBe(h => candidates.ContainsKey(h), "every host is a candidate (other tests' hosts too: one service)");
        candidates[roomy].GetProperty("category").GetString().ShouldBe("definite");
        candidates[roomy].GetProperty("value").GetInt64().ShouldBeGreaterThan(0);
        if (candidates[disabled].GetProperty("refused").ValueKind != System.Text.Json.JsonValueKind.Null)
        {
            // Tried before the roomy host (the draw is random): refused for being disabled.
            candidates[disabled].GetProperty("refused").GetProperty("code").GetString().ShouldBe("HOST_DISABLED");
            candidates[disabled].GetProperty("refused").GetProperty("params")[0].GetGuid().ShouldBe(disabled);
        }

        var after = await pool.VmRecordAsync(vm.Id);
        after.GetProperty("version").GetInt64().ShouldBe(before.GetProperty("version").GetInt64());
        after.GetProperty("powerState").GetString().ShouldBe("Halted");
        (await pool.GetAsync($"/api/vms/{vm.Id}/history")).GetArrayLength().ShouldBe(historyBefore);
        await pool.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task Dry_run_of_a_start_that_would_be_refused_answers_the_refusal_and_writes_nothing()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var host = await pool.HostAsync();
        (await client.PostAsync($"/api/hosts/{host}/disable", null, ct)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var vm = await pool.VmAsync();
        var historyBefore = (await pool.GetAsync($"/api/vms/{vm.Id}/history")).GetArrayLength();

        var response = await client.PostAsJsonAsync($"/api/vms/{vm.Id}/start-on?dryRun=true", new { host }, ct);

        await response.ShouldBeProblem(HttpStatusCode.Conflict, "HOST_DISABLED", host.ToString());
        (await pool.GetAsync($"/api/vms/{vm.Id}/history")).GetArrayLength().ShouldBe(historyBefore, "a what-if records no refusal");
        await pool.AssertNothingLeftAsync();
    }
}
