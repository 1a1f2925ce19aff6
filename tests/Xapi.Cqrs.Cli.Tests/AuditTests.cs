using System.Net.Http.Json;
using System.Text.Json;
using Shouldly;

namespace Xapi.Cqrs.Cli.Tests;

/// <summary>vm-history --at / --version and host-history against the real service: the record as it was, compared with what the live read said then.</summary>
public sealed class AuditTests(XapiServer server) : IClassFixture<XapiServer>
{
    [Fact]
    public async Task Vm_history_at_a_moment_shows_the_record_the_live_read_showed_then()
    {
        using var http = server.Http();
        var ct = TestContext.Current.CancellationToken;
        (await server.Xapi("vm-start", "web01")).ExitCode.ShouldBe(0);
        var vm = (await http.GetFromJsonAsync<JsonElement>("/api/vms", ct)).EnumerateArray().Single(v => v.GetProperty("nameLabel").GetString() == "web01");
        var id = vm.GetProperty("id").GetString()!;
        var live = await http.GetFromJsonAsync<JsonElement>($"/api/vms/{id}", ct);
        var moment = (await http.GetFromJsonAsync<JsonElement>($"/api/vms/{id}/history", ct)).EnumerateArray().Last().GetProperty("at").GetDateTimeOffset();
        (await server.Xapi("vm-shutdown", "web01", "--force")).ExitCode.ShouldBe(0);

        var run = await server.Xapi("vm-history", "web01", "--at", moment.ToString("O"), "--json");

        run.ExitCode.ShouldBe(0, run.Error);
        using var then = JsonDocument.Parse(run.Out);
        foreach (var field in new[] { "powerState", "residentOn", "domid", "version" })
        {
            then.RootElement.GetProperty(field).GetRawText().ShouldBe(live.GetProperty(field).GetRawText(), field);
        }
        then.RootElement.GetProperty("powerState").GetString().ShouldBe("Running");

        var table = await server.Xapi("vm-history", id, "--at", moment.ToString("O"));
        table.Out.ShouldMatch(@"│ powerState\s+│ Running");

        var host = live.GetProperty("residentOn").GetString()!;
        var hostThen = await server.Xapi("host-history", host, "--at", moment.ToString("O"), "--json");
        hostThen.ExitCode.ShouldBe(0, hostThen.Error);
        using var hostDoc = JsonDocument.Parse(hostThen.Out);
        hostDoc.RootElement.GetProperty("residentVms").EnumerateArray().Select(v => v.GetString()).ShouldContain(id);
    }

    [Fact]
    public async Task Vm_history_version_1_is_the_vm_as_created()
    {
        var run = await server.Xapi("vm-history", "db01", "--version", "1", "--json");

        run.ExitCode.ShouldBe(0, run.Error);
        using var doc = JsonDocument.Parse(run.Out);
        doc.RootElement.GetProperty("nameLabel").GetString().ShouldBe("db01");
        doc.RootElement.GetProperty("powerState").GetString().ShouldBe("Halted");
        doc.RootElement.GetProperty("version").GetInt64().ShouldBe(1);
    }

    [Fact]
    public async Task Vm_history_at_a_time_before_the_vm_existed_is_the_servers_handle_invalid()
    {
        var run = await server.Xapi("vm-history", "db01", "--at", "2000-01-01T00:00:00Z");

        run.ExitCode.ShouldBe(1);
        run.Error.ShouldStartWith("error: HANDLE_INVALID (HTTP 404)");
    }

    [Fact]
    public async Task Host_history_lists_the_hosts_events()
    {
        var run = await server.Xapi("host-history", "host2");

        run.ExitCode.ShouldBe(0, run.Error);
        run.Out.ShouldContain("host_registered");
        run.Out.ShouldMatch(@"\d+ events?");
    }

    [Fact]
    public async Task Vm_history_explain_tells_the_start_made_through_the_cli_with_its_chosen_host_and_a_reproduced_replay()
    {
        using var http = server.Http();
        var ct = TestContext.Current.CancellationToken;
        (await server.Xapi("vm-start", "build01")).ExitCode.ShouldBe(0);
        var vm = (await http.GetFromJsonAsync<JsonElement>("/api/vms", ct)).EnumerateArray().Single(v => v.GetProperty("nameLabel").GetString() == "build01");
        var host = await http.GetFromJsonAsync<JsonElement>($"/api/hosts/{vm.GetProperty("residentOn").GetString()}", ct);
        var hostLine = $"{host.GetProperty("nameLabel").GetString()} ({host.GetProperty("id").GetString()})";

        var run = await server.Xapi("vm-history", "build01", "--explain");

        run.ExitCode.ShouldBe(0, run.Error);
        run.Out.ShouldContain($"VM build01 ({vm.GetProperty("id").GetString()}): 1 start");
        run.Out.ShouldContain("by admin (pool-admin)");
        run.Out.ShouldContain("asked for: any host, running");
        run.Out.ShouldContain($"chosen: {hostLine}");
        run.Out.ShouldMatch(@"│ domain_unpaused\s+│ \d{4}-\d\d-\d\dT[\d:.]+Z\s+│ [\d.]+ m?s");
        run.Out.ShouldContain("outcome: running at ");
        run.Out.ShouldContain($"replay: reproduced: today's placement picks the same host, {hostLine}");
    }

    [Fact]
    public async Task Events_prints_the_logs_events_up_to_its_high_water_mark_and_stops()
    {
        using var http = server.Http();
        var ct = TestContext.Current.CancellationToken;
        var highWaterMark = (await http.GetFromJsonAsync<JsonElement>("/api/admin/projections", ct)).EnumerateArray()
            .Max(p => p.GetProperty("highWaterMark").GetInt64());

        var run = await server.Xapi("events", "--json");

        run.ExitCode.ShouldBe(0, run.Error);
        var seqs = run.Out.Trim().Split('\n').Select(line => JsonDocument.Parse(line).RootElement.GetProperty("seq").GetInt64()).ToList();
        seqs.ShouldBeInOrder(SortDirection.Ascending);
        seqs.ShouldBeUnique();
        seqs[0].ShouldBe(1);
        seqs[^1].ShouldBeGreaterThanOrEqualTo(highWaterMark);
        run.Out.ShouldContain("\"type\":\"host_registered\"");
    }
}
