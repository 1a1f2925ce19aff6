using System.Net.Http.Json;
using System.Text.Json;
using Shouldly;

namespace Xapi.Cqrs.Cli.Tests;

/// <summary>The CLI against the real service (demo pool, PostgreSQL): what a user would type, and what it does to the pool.</summary>
public sealed class RealServerTests(XapiServer server) : IClassFixture<XapiServer>
{
    [Fact]
    public async Task Vm_start_dry_run_shows_the_decision_and_writes_nothing()
    {
        using var http = server.Http();
        var vm = await VmId(http, "web02");
        var before = await HistoryCount(http, vm);

        var run = await server.Xapi("vm-start", "web02", "--dry-run");

        run.ExitCode.ShouldBe(0, run.Error);
        run.Out.ShouldContain($"VM web02 ({vm}) would start on host");
        run.Out.ShouldContain("(a dry run: nothing was started or written)");
        foreach (var host in new[] { "host1", "host2", "host3", "host4" })
        {
            run.Out.ShouldContain(host);
        }
        (await PowerState(http, vm)).ShouldBe("Halted");
        (await HistoryCount(http, vm)).ShouldBe(before);
    }

    [Fact]
    public async Task Vm_start_on_dry_run_json_names_the_host_asked_for()
    {
        using var http = server.Http();
        var host3 = await HostId(http, "host3");

        var run = await server.Xapi("vm-start", "cache01", "--on", "host3", "--dry-run", "--json");

        run.ExitCode.ShouldBe(0, run.Error);
        using var doc = JsonDocument.Parse(run.Out);
        doc.RootElement.GetProperty("host").GetString().ShouldBe(host3);
        doc.RootElement.GetProperty("seed").ValueKind.ShouldBe(JsonValueKind.Number);
        (await PowerState(http, await VmId(http, "cache01"))).ShouldBe("Halted");
    }

    [Fact]
    public async Task A_vm_goes_through_its_whole_lifecycle_with_the_cli_and_its_history_lists_every_event_across_pages()
    {
        using var http = server.Http();
        var vm = await VmId(http, "test01");

        var start = await server.Xapi("vm-start", "test01", "--watch");
        start.ExitCode.ShouldBe(0, start.Error);
        start.Out.ShouldMatch($@"test01 \({vm}\) is Running on host\d \([0-9a-f-]{{36}}\)");

        (await server.Xapi("vm-pause", "test01")).Out.ShouldContain("is Paused");
        (await server.Xapi("vm-unpause", "test01", "--watch")).Out.ShouldContain("is Running");
        (await server.Xapi("vm-reboot", "test01", "--force")).Out.ShouldContain("is Running");
        var shutdown = await server.Xapi("vm-shutdown", "test01", "--force", "--watch");
        shutdown.ExitCode.ShouldBe(0, shutdown.Error);
        shutdown.Out.Trim().ShouldBe($"test01 ({vm}) is Halted");

        var expected = await AllSeqs(http, vm);
        var history = await server.Xapi("vm-history", "test01", "--page-size", "3", "--json");

        history.ExitCode.ShouldBe(0, history.Error);
        using var doc = JsonDocument.Parse(history.Out);
        var seqs = doc.RootElement.EnumerateArray().Select(e => e.GetProperty("seq").GetInt64()).ToList();
        seqs.Count.ShouldBeGreaterThan(3 * 2); // really more than two pages
        seqs.ShouldBe(expected);

        var table = await server.Xapi("vm-history", "test01", "--page-size", "5");
        table.ExitCode.ShouldBe(0, table.Error);
        table.Out.ShouldContain($"{expected.Count} events");
        table.Out.ShouldContain("vm_created");

        var destroy = await server.Xapi("vm-destroy", "test01");
        destroy.ExitCode.ShouldBe(0, destroy.Error);
        destroy.Out.Trim().ShouldBe($"VM test01 ({vm}) is destroyed");
        (await server.Xapi("vm-show", vm)).ExitCode.ShouldBe(1);
        var after = await server.Xapi("vm-history", vm); // its history stays, the destroy included
        after.ExitCode.ShouldBe(0, after.Error);
        after.Out.ShouldContain("vm_destroyed");
        after.Out.ShouldContain($"{(await AllSeqs(http, vm)).Count} events");
    }

    [Fact]
    public async Task Watch_on_a_terminal_draws_the_task_progress_bar_to_completion()
    {
        var run = await server.XapiInteractive("vm-start", "build01", "--watch");

        run.ExitCode.ShouldBe(0, run.Error);
        run.Out.ShouldContain("start build01");
        run.Out.ShouldContain("100%");
        run.Out.ShouldContain("is Running on host");
        (await server.Xapi("vm-shutdown", "build01", "--force")).ExitCode.ShouldBe(0);
    }

    [Fact]
    public async Task Starting_a_running_vm_prints_the_servers_code_and_params_and_exits_1()
    {
        using var http = server.Http();
        var vm = await VmId(http, "db01");
        (await server.Xapi("vm-start", "db01")).ExitCode.ShouldBe(0);

        var run = await server.Xapi("vm-start", "db01");

        run.ExitCode.ShouldBe(1);
        run.Out.ShouldBeEmpty();
        run.Error.ShouldStartWith("error: VM_BAD_POWER_STATE (HTTP 409)");
        run.Error.ShouldContain($"params: [\"{vm}\", \"halted\", \"running\"]");
        run.Error.ShouldNotContain(" at Xapi."); // no stack trace for a user's mistake

        var watched = await server.Xapi("vm-start", "db01", "--watch");
        watched.ExitCode.ShouldBe(1);
        watched.Error.ShouldStartWith("error: VM_BAD_POWER_STATE");
        (await server.Xapi("vm-shutdown", "db01", "--force")).ExitCode.ShouldBe(0);
    }

    [Fact]
    public async Task Token_create_prints_a_token_that_works_with_its_role_and_no_more()
    {
        var created = await server.Xapi("token-create", "alice", "--role", "read-only");

        created.ExitCode.ShouldBe(0, created.Error);
        var token = created.Out.Trim();
        token.ShouldStartWith("xapi_");
        created.Error.ShouldContain("read-only token for alice");

        var list = await server.XapiWithToken(token, "vm-list");
        list.ExitCode.ShouldBe(0, list.Error);
        list.Out.ShouldContain("web01");
        var start = await server.XapiWithToken(token, "vm-start", "web01");
        start.ExitCode.ShouldBe(4);
        start.Error.ShouldContain("RBAC_PERMISSION_DENIED");
    }

    [Fact]
    public async Task Token_create_with_an_unknown_role_is_a_usage_error()
    {
        var run = await server.Xapi("token-create", "bob", "--role", "root");

        run.ExitCode.ShouldBe(2);
        run.Error.ShouldContain("root");
    }

    [Fact]
    public async Task A_start_with_async_can_be_followed_with_task_show_watch_and_leaves_a_message()
    {
        using var http = server.Http();
        var vm = await VmId(http, "web01");
        var response = await http.PostAsJsonAsync($"/api/vms/{vm}/start?async=true", new { }, TestContext.Current.CancellationToken);
        response.StatusCode.ShouldBe(System.Net.HttpStatusCode.Accepted);
        var taskId = (await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("taskId").GetString()!;

        var run = await server.Xapi("task-show", taskId, "--watch");

        run.ExitCode.ShouldBe(0, run.Error);
        run.Out.ShouldMatch(@"│ status\s+│ success");
        var messages = await server.Xapi("message-list", "--obj", "web01");
        messages.ExitCode.ShouldBe(0, messages.Error);
        messages.Out.ShouldContain("VM_STARTED");
        (await server.Xapi("vm-shutdown", "web01", "--force")).ExitCode.ShouldBe(0);
    }

    [Fact]
    public async Task Host_verbs_disable_show_and_enable_a_host()
    {
        var disable = await server.Xapi("host-disable", "host4");
        disable.ExitCode.ShouldBe(0, disable.Error);
        disable.Out.ShouldContain("host host4 (");
        disable.Out.ShouldContain("is disabled");
        (await server.Xapi("host-show", "host4")).Out.ShouldMatch(@"│ enabled\s+│ false");
        var enable = await server.Xapi("host-enable", "host4");
        enable.Out.ShouldContain("is enabled");
    }

    private static async Task<string> VmId(HttpClient http, string name) =>
        (await http.GetFromJsonAsync<JsonElement>("/api/vms", TestContext.Current.CancellationToken)).EnumerateArray()
            .Single(v => v.GetProperty("nameLabel").GetString() == name).GetProperty("id").GetString()!;

    private static async Task<string> HostId(HttpClient http, string name) =>
        (await http.GetFromJsonAsync<JsonElement>("/api/hosts", TestContext.Current.CancellationToken)).EnumerateArray()
            .Single(v => v.GetProperty("nameLabel").GetString() == name).GetProperty("id").GetString()!;

    private static async Task<string> PowerState(HttpClient http, string vm) =>
        (await http.GetFromJsonAsync<JsonElement>($"/api/vms/{vm}", TestContext.Current.CancellationToken)).GetProperty("powerState").GetString()!;

    /// <summary>The whole history's sequence numbers, from the server's unpaged export (ndjson).</summary>
    private static async Task<List<long>> AllSeqs(HttpClient http, string vm)
    {
        var text = await http.GetStringAsync($"/api/vms/{vm}/history?format=ndjson", TestContext.Current.CancellationToken);
        return [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("seq").GetInt64())];
    }

    private static async Task<int> HistoryCount(HttpClient http, string vm) => (await AllSeqs(http, vm)).Count;
}
