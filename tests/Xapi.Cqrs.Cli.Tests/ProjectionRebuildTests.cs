using System.Net.Http.Json;
using System.Text.Json;
using Shouldly;

namespace Xapi.Cqrs.Cli.Tests;

/// <summary>projections list / rebuild against the real service (demo pool: 6 VMs, 4 hosts).</summary>
public sealed class ProjectionRebuildTests(XapiServer server) : IClassFixture<XapiServer>
{
    [Fact]
    public async Task Projections_list_shows_the_inline_and_async_read_models()
    {
        var run = await server.Xapi("projections", "list");

        run.ExitCode.ShouldBe(0, run.Error);
        run.Out.ShouldMatch(@"│ vm\s+│ inline\s+│ \d+\s+│ \w+");
        run.Out.ShouldMatch(@"│ \w+\s+│ async\s+│");
    }

    [Fact]
    public async Task Projections_rebuild_of_the_vm_read_model_prints_its_documents_events_and_rate_and_reads_still_answer()
    {
        var run = await server.Xapi("projections", "rebuild", "vm");

        run.ExitCode.ShouldBe(0, run.Error);
        run.Out.Trim().ShouldMatch(@"^vm: rebuilt 6 documents from \d+ events in [\d.]+ s \(\d+ events/s\)$");
        var list = await server.Xapi("vm-list");
        list.ExitCode.ShouldBe(0, list.Error);
        list.Out.ShouldContain("web01");
    }

    [Fact]
    public async Task Projections_rebuild_on_a_terminal_draws_the_progress_bar_to_100_percent()
    {
        var run = await server.XapiInteractive("projections", "rebuild", "host");

        run.ExitCode.ShouldBe(0, run.Error);
        run.Out.ShouldContain("rebuild host");
        run.Out.ShouldContain("100%");
        run.Out.ShouldMatch(@"host: rebuilt 4 documents from \d+ events");
    }

    [Fact]
    public async Task Projections_rebuild_without_a_name_rebuilds_every_projection_the_server_lists()
    {
        using var http = server.Http();
        var names = (await http.GetFromJsonAsync<JsonElement>("/api/admin/projections", TestContext.Current.CancellationToken))
            .EnumerateArray().Select(p => p.GetProperty("name").GetString()!).ToList();

        var run = await server.Xapi("projections", "rebuild");

        run.ExitCode.ShouldBe(0, run.Error);
        var lines = run.Out.Trim().Split('\n').Select(l => l.Trim()).ToList();
        lines.Count.ShouldBe(names.Count + 1);
        lines.Take(names.Count).Select(l => l[..l.IndexOf(':', StringComparison.Ordinal)]).ShouldBe(names);
        lines.Last().ShouldStartWith($"all {names.Count} projections: rebuilt ");
    }

    [Fact]
    public async Task Rebuilding_an_unknown_projection_is_the_servers_error_with_exit_1()
    {
        var run = await server.Xapi("projections", "rebuild", "nosuch");

        run.ExitCode.ShouldBe(1);
        run.Error.ShouldStartWith("error: ");
        run.Error.ShouldContain("nosuch");
        run.Error.ShouldContain("(HTTP 4");
    }
}
