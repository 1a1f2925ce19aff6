using System.Text.Json;
using Shouldly;
using static Xapi.Cqrs.Cli.Tests.ApiStub;

namespace Xapi.Cqrs.Cli.Tests;

/// <summary>xapi events against the stub's server-sent events (seq 1..3, high-water mark 3).</summary>
public sealed class EventTests(ApiStub api) : IClassFixture<ApiStub>
{
    private Task<CliRun> Xapi(params string[] args) => Cli.Run([.. args, "--server", api.Url, "--token", AdminToken]);

    [Fact]
    public async Task Events_without_follow_prints_what_is_there_and_stops()
    {
        var run = await Xapi("events");

        run.ExitCode.ShouldBe(0, run.Error);
        var lines = run.Out.Trim().Split('\n');
        lines.Length.ShouldBe(3);
        lines[0].ShouldContain("2025-01-01T09:00:00.000Z  vm_created  stream " + HaltedVm + " v1  by alice  correlation corr-1");
        lines[2].ShouldContain("host_chosen");
        lines[2].Trim().ShouldStartWith("3 ");
    }

    [Fact]
    public async Task Events_after_a_seq_asks_the_stream_for_what_follows()
    {
        var run = await Xapi("events", "--after", "1");

        run.ExitCode.ShouldBe(0, run.Error);
        api.EventConnections.ShouldContain(1);
        run.Out.Trim().Split('\n').Length.ShouldBe(2);
        run.Out.ShouldNotContain("vm_created");
    }

    [Fact]
    public async Task Events_json_prints_one_event_object_a_line()
    {
        var run = await Xapi("events", "--json");

        run.ExitCode.ShouldBe(0, run.Error);
        var seqs = run.Out.Trim().Split('\n').Select(l => JsonDocument.Parse(l).RootElement.GetProperty("seq").GetInt64());
        seqs.ShouldBe([1L, 2L, 3L]);
    }

    [Fact]
    public async Task Events_after_the_high_water_mark_prints_nothing_and_does_not_open_the_stream()
    {
        var before = api.EventConnections.Count;

        var run = await Xapi("events", "--after", "3");

        run.ExitCode.ShouldBe(0, run.Error);
        run.Out.ShouldBeEmpty();
        api.EventConnections.Count.ShouldBe(before);
    }
}

/// <summary>--follow: when the server closes the stream the CLI connects again after the last event it printed, until Ctrl+C.</summary>
public sealed class EventFollowTests(ApiStub api) : IClassFixture<ApiStub>
{
    [Fact]
    public async Task Events_follow_reconnects_after_the_last_seq_and_ends_on_ctrl_c()
    {
        using var ctrlC = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var running = Cli.RunUntil(ctrlC.Token, "events", "--follow", "--server", api.Url, "--token", AdminToken);

        await api.EventStreamServed.WaitAsync(TestContext.Current.CancellationToken); // the first connection, from the start
        await api.EventStreamServed.WaitAsync(TestContext.Current.CancellationToken); // the reconnection
        ctrlC.Cancel();
        var run = await running;

        run.ExitCode.ShouldBe(130);
        api.EventConnections.Take(2).ShouldBe([0L, 3L]);
        run.Out.Trim().Split('\n').Length.ShouldBe(3); // each event once
    }
}
