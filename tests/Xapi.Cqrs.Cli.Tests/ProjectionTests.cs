using System.Text.Json;
using Shouldly;
using static Xapi.Cqrs.Cli.Tests.ApiStub;

namespace Xapi.Cqrs.Cli.Tests;

/// <summary>projections list / rebuild and task following, against the stub (canned projections and a rebuild task that moves as it is long-polled).</summary>
public sealed class ProjectionTests(ApiStub api) : IClassFixture<ApiStub>
{
    private Task<CliRun> Xapi(params string[] args) => Cli.Run([.. args, "--server", api.Url, "--token", AdminToken]);

    [Fact]
    public async Task Projections_list_shows_kind_version_status_position_high_water_mark_and_lag()
    {
        var run = await Xapi("projections", "list");

        run.ExitCode.ShouldBe(0, run.Error);
        Cells(Row(run.Out, "│ vms ")).ShouldBe(["vms", "inline", "2", "running", "3", "3", "0", "-"]);
        Cells(Row(run.Out, "│ hosts ")).ShouldBe(["hosts", "async", "1", "running", "2", "3", "1", "-"]);
    }

    [Fact]
    public async Task Projections_rebuild_follows_the_task_by_long_polling_and_prints_counts_and_rate()
    {
        var run = await Xapi("projections", "rebuild", "vms");

        run.ExitCode.ShouldBe(0, run.Error);
        api.Posts.ShouldContain(p => p.Request == "POST /api/admin/projections/vms/rebuild");
        api.Requests.ShouldContain($"GET /api/tasks/{RebuildVmsTask}?minVersion=3");
        api.Requests.ShouldContain($"GET /api/tasks/{RebuildVmsTask}?minVersion=4");
        run.Out.Trim().ShouldBe("vms: rebuilt 1200 documents from 36000 events in 2.4 s (15000 events/s)");
    }

    [Fact]
    public async Task Projections_rebuild_without_a_name_rebuilds_every_projection_in_turn_and_sums_them()
    {
        var run = await Xapi("projections", "rebuild");

        run.ExitCode.ShouldBe(0, run.Error);
        run.Out.Trim().Split('\n').Select(l => l.Trim()).ShouldBe([
            "vms: rebuilt 1200 documents from 36000 events in 2.4 s (15000 events/s)",
            "hosts: rebuilt 4 documents from 400 events in 0.5 s (800 events/s)",
            "all 2 projections: rebuilt 1204 documents from 36400 events in 2.9 s (12552 events/s)",
        ]);
    }

    [Fact]
    public async Task Projections_rebuild_on_a_terminal_draws_a_progress_bar_to_100_percent()
    {
        var run = await Cli.Run(interactive: true, "projections", "rebuild", "hosts", "--server", api.Url, "--token", AdminToken);

        run.ExitCode.ShouldBe(0, run.Error);
        run.Out.ShouldContain("rebuild hosts");
        run.Out.ShouldContain("100%");
        run.Out.ShouldContain("hosts: rebuilt 4 documents from 400 events in 0.5 s (800 events/s)");
    }

    [Fact]
    public async Task Projections_rebuild_json_prints_each_result()
    {
        var run = await Xapi("projections", "rebuild", "vms", "--json");

        run.ExitCode.ShouldBe(0, run.Error);
        using var doc = JsonDocument.Parse(run.Out);
        var only = doc.RootElement.EnumerateArray().Single();
        only.GetProperty("name").GetString().ShouldBe("vms");
        only.GetProperty("result").GetProperty("events").GetInt64().ShouldBe(36000);
    }

    [Fact]
    public async Task Rebuilding_an_unknown_projection_prints_handle_invalid_and_exits_1()
    {
        var run = await Xapi("projections", "rebuild", "nosuch");

        run.ExitCode.ShouldBe(1);
        run.Error.ShouldStartWith("error: HANDLE_INVALID (HTTP 404)");
        run.Error.ShouldContain("params: [\"projection\", \"nosuch\"]");
    }

    [Fact]
    public async Task Task_show_watch_of_a_failed_task_prints_its_error_info_and_exits_1()
    {
        var run = await Xapi("task-show", FailingTask, "--watch");

        run.ExitCode.ShouldBe(1);
        run.Error.ShouldContain($"error: HOST_NOT_ENOUGH_FREE_MEMORY (task {FailingTask} failed)");
        run.Error.ShouldContain("params: [\"2147483648\", \"1073741824\"]");
        run.Out.ShouldMatch(@"│ status\s+│ failure");
    }

    private static string Row(string output, string marker) =>
        output.Split('\n').Single(line => line.Contains(marker, StringComparison.Ordinal));

    private static string[] Cells(string row) =>
        [.. row.Split('│', '|').Select(c => c.Trim()).Where(c => c.Length > 0)];
}

/// <summary>vm-history --explain against the stub (the lead's answer shape), until the real endpoint lands.</summary>
public sealed class ExplainTests(ApiStub api) : IClassFixture<ApiStub>
{
    [Fact]
    public async Task Explain_tells_each_start_as_a_story_with_candidates_steps_outcome_and_replay()
    {
        var run = await Cli.Run("vm-history", "web01", "--explain", "--server", api.Url, "--token", AdminToken);

        run.ExitCode.ShouldBe(0, run.Error);
        api.Requests.ShouldContain($"GET /api/vms/{HaltedVm}/history/explain");
        var text = run.Out;
        text.ShouldContain($"VM web01 ({HaltedVm}): 2 starts");
        text.ShouldContain("1. start asked at 2025-01-01T10:30:00.000Z by bob (vm-operator), correlation id corr-start, task 5a5a0000-0000-0000-0000-000000000001");
        text.ShouldContain("asked for: any host, running");
        text.ShouldContain("placement: needs 2.01 GiB (2155872256), category definite, draw seed 42");
        text.ShouldContain($"HOST_NOT_LIVE [{HostB}]");
        text.ShouldContain($"chosen: host-a ({HostA})");
        text.ShouldMatch(@"│ domain_unpaused\s+│ 2025-01-01T10:30:01\.600Z\s+│ 1\.5 s");
        text.ShouldContain("outcome: running at 2025-01-01T10:30:01.700Z");
        text.ShouldContain($"replay: today's placement makes the same choice (host-a ({HostA}))");
        text.ShouldContain($"2. start_on asked at 2025-01-02T08:00:00.000Z by carol (pool-admin)");
        text.ShouldContain($"asked for: host host-b ({HostB}) only, paused");
        text.ShouldContain("outcome: failed: VM_BUILD_FAILED [create, out of memory] at 2025-01-02T08:00:00.500Z");
        text.ShouldContain("replay: NOT REPRODUCED: today's placement would choose no host: HOST_NOT_LIVE on host-b today");
    }
}
