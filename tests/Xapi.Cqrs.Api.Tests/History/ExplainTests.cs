using System.Collections.Immutable;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;
using Xapi.Cqrs.Api.Tests.Vms;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Api.Tests.History;

/// <summary>
/// GET /api/vms/{id}/history/explain (API.md "Audit replay"): each start as a story — who asked, the candidates with
/// their category values and failed checks, the draw, the host-side steps with durations, the outcome — and whether
/// today's placement reproduces the recorded choice, flagging a choice it would not make.
/// </summary>
public sealed class ExplainTests(XapiServer server) : IClassFixture<XapiServer>
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    private async Task<List<JsonElement>> StartsAsync(Pool pool, Guid vm)
    {
        var explain = await pool.GetAsync($"/api/vms/{vm}/history/explain");
        explain.GetProperty("vm").GetGuid().ShouldBe(vm);
        return [.. explain.GetProperty("starts").EnumerateArray()];
    }

    private static string?[] Strings(JsonElement array) => [.. array.EnumerateArray().Select(p => p.GetString())];

    [Fact]
    public async Task Start_on_a_pool_of_several_hosts_is_told_with_actor_candidates_steps_outcome_and_a_reproduced_choice()
    {
        // Given a pool of three hosts (only they see the VM's network) and an operator who starts the VM.
        using var admin = server.Client();
        var pool = await Pool.CreateAsync(admin, ct);
        var hosts = new[] { await pool.HostAsync(16 * Pool.GiB), await pool.HostAsync(12 * Pool.GiB), await pool.HostAsync(8 * Pool.GiB) };
        var vm = await pool.VmAsync();
        using var operatorClient = await server.ClientWithRole("vm-operator");
        var correlation = "explain-" + Guid.NewGuid().ToString("N");
        using var start = new HttpRequestMessage(HttpMethod.Post, $"/api/vms/{vm.Id}/start") { Content = JsonContent.Create(new { }) };
        start.Headers.Add("X-Correlation-Id", correlation);
        var record = await (await operatorClient.SendAsync(start, ct)).ShouldBeOkAsync();
        var residentOn = record.GetProperty("residentOn").GetGuid();

        // When explained
        var story = (await StartsAsync(pool, vm.Id)).ShouldHaveSingleItem();

        // Then who asked, and under which correlation id
        story.GetProperty("operation").GetString().ShouldBe("start");
        story.GetProperty("actor").GetProperty("subject").GetString().ShouldBe("user-vm-operator");
        story.GetProperty("actor").GetProperty("role").GetString().ShouldBe("vm-operator");
        story.GetProperty("correlationId").GetString().ShouldBe(correlation);
        story.GetProperty("requestedHost").ValueKind.ShouldBe(JsonValueKind.Null);
        story.GetProperty("paused").GetBoolean().ShouldBeFalse();
        var taskId = story.GetProperty("taskId").GetGuid();
        (await pool.GetAsync($"/api/tasks/{taskId}")).GetProperty("status").GetString().ShouldBe("success");

        // the hosts considered, with their category values (other tests' hosts share the service: they cannot see the
        // SR of the VM's disk, checked before its network, so any of them that was drawn is refused with VM_REQUIRES_SR)
        story.GetProperty("seed").ValueKind.ShouldBe(JsonValueKind.Number);
        story.GetProperty("memoryRequired").GetInt64().ShouldBeGreaterThan(512 * Pool.MiB, "dynamic_min and the overhead");
        story.GetProperty("category").GetString().ShouldBe("definite");
        var candidates = story.GetProperty("candidates").EnumerateArray().ToDictionary(c => c.GetProperty("host").GetGuid());
        foreach (var host in hosts)
        {
            var candidate = candidates[host];
            candidate.GetProperty("nameLabel").GetString().ShouldBe(pool.HostNames[host]);
            candidate.GetProperty("category").GetString().ShouldBe("definite");
            candidate.GetProperty("value").GetInt64().ShouldBeGreaterThan(0);
            candidate.GetProperty("values").GetProperty("definite").GetInt64().ShouldBe(candidate.GetProperty("value").GetInt64());
            candidate.GetProperty("refused").ValueKind.ShouldBe(JsonValueKind.Null, "every host of the pool can take the VM");
        }

        // the bigger host is worth more, once the coordinator's bias is undone: the pool's first host is its coordinator
        // and its value v is (u − 1)/2, so when this test runs first in its service one of these hosts is the coordinator
        async Task<long> UnbiasedAsync(Guid host)
        {
            var value = candidates[host].GetProperty("value").GetInt64();
            return (await pool.GetAsync($"/api/hosts/{host}")).GetProperty("isCoordinator").GetBoolean() ? 2 * value + 1 : value;
        }

        (await UnbiasedAsync(hosts[0])).ShouldBeGreaterThan(await UnbiasedAsync(hosts[1]));
        (await UnbiasedAsync(hosts[1])).ShouldBeGreaterThan(await UnbiasedAsync(hosts[2]));
        foreach (var other in candidates.Values.Where(c => c.GetProperty("refused").ValueKind != JsonValueKind.Null))
        {
            other.GetProperty("refused").GetProperty("code").GetString().ShouldBe("VM_REQUIRES_SR");
            Strings(other.GetProperty("refused").GetProperty("params")).ShouldBe([vm.Id.ToString(), pool.Sr.ToString()]);
        }

        // the draw and the host chosen, the one the VM runs on
        story.GetProperty("chosenHost").GetGuid().ShouldBe(residentOn);
        hosts.ShouldContain(residentOn);
        var draws = story.GetProperty("draws").EnumerateArray().ToList();
        draws[^1].GetProperty("host").GetGuid().ShouldBe(residentOn);
        draws[^1].GetProperty("accepted").GetBoolean().ShouldBeTrue();
        draws.ShouldAllBe(d => d.GetProperty("r").GetDouble() >= 0 && d.GetProperty("r").GetDouble() < 1);

        // each host-side step with its duration, in order
        var steps = story.GetProperty("steps").EnumerateArray().ToList();
        steps.Select(s => s.GetProperty("type").GetString()).Take(6)
            .ShouldBe(["domain_created", "domain_built", "vbd_plugged", "vif_plugged", "device_model_created", "domain_unpaused"]);
        steps.ShouldAllBe(s => s.GetProperty("durationMs").GetDouble() >= 0);
        steps.Select(s => s.GetProperty("at").GetDateTimeOffset()).ShouldBeInOrder();

        // the outcome
        var outcome = story.GetProperty("outcome");
        outcome.GetProperty("status").GetString().ShouldBe("running");
        outcome.GetProperty("code").ValueKind.ShouldBe(JsonValueKind.Null);
        outcome.GetProperty("at").GetDateTimeOffset().ShouldBeGreaterThanOrEqualTo(story.GetProperty("requestedAt").GetDateTimeOffset());

        // and today's placement, over the recorded inputs, picks the same host
        var replay = story.GetProperty("replay");
        replay.GetProperty("reproduced").GetBoolean().ShouldBeTrue(replay.GetProperty("note").GetString());
        replay.GetProperty("host").GetGuid().ShouldBe(residentOn);
        replay.GetProperty("note").GetString().ShouldStartWith("today's placement picks the same host");
        replay.GetProperty("draws").GetArrayLength().ShouldBe(draws.Count);
    }

    [Fact]
    public async Task Failed_and_refused_starts_are_each_their_own_story_in_order()
    {
        // Given a start failed by the hypervisor at build, a start that succeeds, and a start of the running VM.
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var host = await pool.HostAsync();
        var vm = await pool.VmAsync();
        (await client.PostAsJsonAsync($"/api/hosts/{host}/hypervisor/faults", new { step = "build", error = "BOOTLOADER_FAILED", count = 1 }, ct))
            .StatusCode.ShouldBe(HttpStatusCode.OK);
        var failed = await (await client.PostAsJsonAsync($"/api/vms/{vm.Id}/start", new { }, ct)).ShouldBeProblemWithCode(HttpStatusCode.Conflict, "BOOTLOADER_FAILED");
        await (await client.PostAsJsonAsync($"/api/vms/{vm.Id}/start", new { }, ct)).ShouldBeOkAsync();
        await (await client.PostAsJsonAsync($"/api/vms/{vm.Id}/start-on", new { host }, ct))
            .ShouldBeProblem(HttpStatusCode.Conflict, "VM_BAD_POWER_STATE", vm.Id.ToString(), "halted", "running");

        // When explained
        var starts = await StartsAsync(pool, vm.Id);

        // Then three stories, in order: failed at build with its code, running, refused before placement.
        starts.Select(s => s.GetProperty("outcome").GetProperty("status").GetString()).ShouldBe(["failed", "running", "failed"]);
        starts.Select(s => s.GetProperty("operation").GetString()).ShouldBe(["start", "start", "start_on"]);
        starts.Select(s => s.GetProperty("requestedAt").GetDateTimeOffset()).ShouldBeInOrder();
        starts.Select(s => s.GetProperty("taskId").GetGuid()).Distinct().Count().ShouldBe(3);
        starts.ShouldAllBe(s => s.GetProperty("actor").GetProperty("subject").GetString() == "admin");
        starts.ShouldAllBe(s => s.GetProperty("actor").GetProperty("role").GetString() == "pool-admin");

        var buildFailed = starts[0];
        buildFailed.GetProperty("outcome").GetProperty("code").GetString().ShouldBe("BOOTLOADER_FAILED");
        Strings(buildFailed.GetProperty("outcome").GetProperty("params")).ShouldBe(failed.Params());
        buildFailed.GetProperty("chosenHost").GetGuid().ShouldBe(host);
        buildFailed.GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("type").GetString()).ShouldBe(["domain_created"]);
        buildFailed.GetProperty("replay").GetProperty("reproduced").GetBoolean().ShouldBeTrue();

        starts[1].GetProperty("chosenHost").GetGuid().ShouldBe(host);
        starts[1].GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("type").GetString()).ShouldContain("domain_unpaused");

        var refused = starts[2];
        refused.GetProperty("outcome").GetProperty("code").GetString().ShouldBe("VM_BAD_POWER_STATE");
        Strings(refused.GetProperty("outcome").GetProperty("params")).ShouldBe([vm.Id.ToString(), "halted", "running"]);
        refused.GetProperty("candidates").GetArrayLength().ShouldBe(0);
        refused.GetProperty("steps").GetArrayLength().ShouldBe(0);
        refused.GetProperty("chosenHost").ValueKind.ShouldBe(JsonValueKind.Null);
        refused.GetProperty("seed").ValueKind.ShouldBe(JsonValueKind.Null);
        var replay = refused.GetProperty("replay");
        replay.GetProperty("reproduced").GetBoolean().ShouldBeFalse();
        replay.GetProperty("replayed").GetBoolean().ShouldBeFalse();
        replay.GetProperty("host").ValueKind.ShouldBe(JsonValueKind.Null);
        replay.GetProperty("note").GetString().ShouldNotBeNull().ShouldContain("refused before placement (VM_BAD_POWER_STATE)");
    }

    // The policy changed: an older release drew index ⌊n·r⌋ (no square). Over two definite hosts, its r = 0.6 took
    // index ⌊2 · 0.6⌋ = 1, the smaller host; today's ⌊2 · 0.36⌋ = 0 takes the bigger one.
    [Fact]
    public async Task Choice_recorded_by_an_older_placement_policy_is_flagged_with_todays_host()
    {
        // Given a VM whose stream holds a start as an older release recorded it (written straight into the store).
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var big = await pool.HostAsync(16 * Pool.GiB);
        var small = await pool.HostAsync(8 * Pool.GiB);
        var vm = await pool.VmAsync();
        var task = Guid.NewGuid();
        var store = server.Services.GetRequiredService<IDocumentStore>();
        await using (var session = store.LightweightSession())
        {
            session.CorrelationId = "older-release";
            session.SetHeader("actor", "old-operator");
            session.Events.Append(vm.Id,
                new HostChosen(task, small, "start", 11, "definite",
                [
                    new HostCandidate(big, pool.HostNames[big], 15 * Pool.GiB, 14 * Pool.GiB, 14 * Pool.GiB, 1000, null, null, []),
                    new HostCandidate(small, pool.HostNames[small], 7 * Pool.GiB, 6 * Pool.GiB, 6 * Pool.GiB, 1000, null, null, []),
                ],
                [new PlacementDraw("definite", true, 2, 0.6, 1, small, true)], 1100 * Pool.MiB),
                new StartFailed(task, small, "INTERNAL_ERROR", ImmutableArray.Create("recorded by an older release")));
            await session.SaveChangesAsync(ct);
        }

        // When explained
        var story = (await StartsAsync(pool, vm.Id)).ShouldHaveSingleItem();

        // Then the recorded choice as it was, and today's placement flagging that it would choose otherwise.
        story.GetProperty("taskId").GetGuid().ShouldBe(task);
        story.GetProperty("actor").GetProperty("subject").GetString().ShouldBe("old-operator");
        story.GetProperty("actor").GetProperty("role").ValueKind.ShouldBe(JsonValueKind.Null, "no token of that subject");
        story.GetProperty("correlationId").GetString().ShouldBe("older-release");
        story.GetProperty("chosenHost").GetGuid().ShouldBe(small);
        story.GetProperty("seed").GetInt32().ShouldBe(11);
        story.GetProperty("outcome").GetProperty("status").GetString().ShouldBe("failed");
        var replay = story.GetProperty("replay");
        replay.GetProperty("replayed").GetBoolean().ShouldBeTrue();
        replay.GetProperty("reproduced").GetBoolean().ShouldBeFalse();
        replay.GetProperty("host").GetGuid().ShouldBe(big);
        var note = replay.GetProperty("note").GetString().ShouldNotBeNull();
        note.ShouldStartWith("the placement policy changed since");
        note.ShouldContain(pool.HostNames[big]);
        var draw = replay.GetProperty("draws").EnumerateArray().ShouldHaveSingleItem();
        (draw.GetProperty("r").GetDouble(), draw.GetProperty("index").GetInt32(), draw.GetProperty("host").GetGuid()).ShouldBe((0.6, 0, big));
    }

    [Fact]
    public async Task Vm_never_started_has_no_starts_and_a_read_only_caller_may_ask()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var vm = await pool.VmAsync();
        using var reader = await server.ClientWithRole("read-only");

        var explain = await (await reader.GetAsync($"/api/vms/{vm.Id}/history/explain", ct)).ShouldBeOkAsync();

        explain.GetProperty("vm").GetGuid().ShouldBe(vm.Id);
        explain.GetProperty("starts").ValueKind.ShouldBe(JsonValueKind.Array);
        explain.GetProperty("starts").GetArrayLength().ShouldBe(0);
    }

    [Fact]
    public async Task Unknown_vm_is_handle_invalid()
    {
        using var client = server.Client();
        var id = Guid.NewGuid();

        await (await client.GetAsync($"/api/vms/{id}/history/explain", ct)).ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "VM", id.ToString());
    }
}
