using System.Text.Json;
using Shouldly;
using static Xapi.Cqrs.Cli.Tests.ApiStub;

namespace Xapi.Cqrs.Cli.Tests;

public sealed class CommandTests(ApiStub api) : IClassFixture<ApiStub>
{
    private Task<CliRun> Xapi(params string[] args) => Cli.Run([.. args, "--server", api.Url, "--token", AdminToken]);

    [Fact]
    public async Task Host_list_shows_names_ids_and_human_memory()
    {
        var run = await Xapi("host-list");

        run.ExitCode.ShouldBe(0, run.Error);
        var hostA = Row(run.Out, HostA);
        hostA.ShouldContain("host-a");
        hostA.ShouldContain("16 GiB");
        hostA.ShouldContain("12.5 GiB");
        Row(run.Out, HostB).ShouldContain("host-b");
        Cells(Row(run.Out, HostB)).ShouldBe(["host-b", HostB, "yes", "no", "8 GiB", "8 GiB", "4", "0"]);
    }

    [Fact]
    public async Task Vm_list_shows_every_vm_with_its_host_name_and_memory()
    {
        var run = await Xapi("vm-list");

        run.ExitCode.ShouldBe(0, run.Error);
        Cells(Row(run.Out, RunningVm)).ShouldBe(["db01", RunningVm, "Running", "host-a", "4/4", "4 GiB / 4 GiB", "7"]);
        Cells(Row(run.Out, HaltedVm)).ShouldBe(["web01", HaltedVm, "Halted", "-", "2/2", "1 GiB / 2 GiB", "-1"]);
        run.Out.ShouldContain(Twin1);
        run.Out.ShouldContain(Twin2);
    }

    [Fact]
    public async Task Vm_list_sends_filters_as_query_with_the_host_name_resolved()
    {
        var run = await Xapi("vm-list", "--power-state", "Running", "--resident-on", "host-a");

        run.ExitCode.ShouldBe(0, run.Error);
        api.Requests.ShouldContain($"GET /api/vms?powerState=Running&residentOn={HostA}");
        run.Out.ShouldContain(RunningVm);
        run.Out.ShouldNotContain(HaltedVm);
    }

    [Fact]
    public async Task Json_flag_prints_the_server_body_untouched()
    {
        var run = await Xapi("host-list", "--json");

        run.ExitCode.ShouldBe(0, run.Error);
        run.Out.TrimEnd().ShouldBe(JsonSerializer.Serialize(Hosts, JsonSerializerOptions.Web));
        using var doc = JsonDocument.Parse(run.Out);
        doc.RootElement.GetArrayLength().ShouldBe(2);
    }

    [Fact]
    public async Task Json_flag_on_vm_show_prints_the_record()
    {
        var run = await Xapi("--json", "vm-show", RunningVm);

        run.ExitCode.ShouldBe(0, run.Error);
        using var doc = JsonDocument.Parse(run.Out);
        doc.RootElement.GetProperty("id").GetString().ShouldBe(RunningVm);
        doc.RootElement.GetProperty("memoryStaticMax").GetInt64().ShouldBe(4L << 30);
    }

    [Fact]
    public async Task Vm_show_by_name_lists_every_field_with_lists_joined()
    {
        var run = await Xapi("vm-show", "db01");

        run.ExitCode.ShouldBe(0, run.Error);
        api.Requests.ShouldContain($"GET /api/vms/{RunningVm}");
        Cells(Row(run.Out, " allowedOperations ")).ShouldBe(["allowedOperations", "hard_shutdown, pause"]);
        Cells(Row(run.Out, " memoryStaticMax ")).ShouldBe(["memoryStaticMax", "4 GiB (4294967296)"]);
        Cells(Row(run.Out, " residentOn ")).ShouldBe(["residentOn", HostA]);
        Cells(Row(run.Out, " affinity ")).ShouldBe(["affinity", "-"]);
        foreach (var field in JsonSerializer.SerializeToElement(Vms[RunningVm], JsonSerializerOptions.Web).EnumerateObject())
        {
            run.Out.ShouldContain($" {field.Name} ");
        }
    }

    [Fact]
    public async Task Vm_start_by_name_posts_paused_and_prints_state_and_host()
    {
        var run = await Xapi("vm-start", "web01", "--paused");

        run.ExitCode.ShouldBe(0, run.Error);
        api.Requests.ShouldContain($"POST /api/vms/{HaltedVm}/start");
        api.Bodies.Last().ShouldBe("""{"paused":true}""");
        run.Out.Trim().ShouldBe($"web01 ({HaltedVm}) is Paused on host-a ({HostA})");
    }

    [Fact]
    public async Task Vm_start_on_resolves_the_host_name_and_posts_start_on()
    {
        var run = await Xapi("vm-start", HaltedVm, "--on", "host-b");

        run.ExitCode.ShouldBe(0, run.Error);
        api.Requests.ShouldContain($"POST /api/vms/{HaltedVm}/start-on");
        api.Bodies.Last().ShouldBe($$"""{"host":"{{HostB}}","paused":false}""");
        run.Out.Trim().ShouldBe($"web01 ({HaltedVm}) is Running on host-b ({HostB})");
    }

    [Fact]
    public async Task Vm_history_follows_the_next_link_and_lists_every_page_in_one_table()
    {
        var run = await Xapi("vm-history", HaltedVm);

        run.ExitCode.ShouldBe(0, run.Error);
        api.Requests.ShouldContain($"GET /api/vms/{HaltedVm}/history?after=41");
        Cells(Row(run.Out, "corr-create")).ShouldBe(["41", "VM", "1", "VmCreated", "2025-01-01T09:00:00.000Z", "alice", "corr-create"]);
        Cells(Row(run.Out, "corr-start")).ShouldBe(["57", "VM", "2", "StartRequested", "2025-01-01T10:30:00.000Z", "bob", "corr-start"]);
        run.Out.ShouldContain("2 events");
    }

    [Fact]
    public async Task Vm_history_json_is_one_array_of_every_page()
    {
        var run = await Xapi("vm-history", HaltedVm, "--json");

        run.ExitCode.ShouldBe(0, run.Error);
        using var doc = JsonDocument.Parse(run.Out);
        doc.RootElement.EnumerateArray().Select(e => e.GetProperty("seq").GetInt64()).ShouldBe([41L, 57L]);
    }

    [Fact]
    public async Task Vm_history_at_with_explain_is_a_usage_error()
    {
        var run = await Xapi("vm-history", HaltedVm, "--at", "2025-01-01T11:00:00Z", "--explain");

        run.ExitCode.ShouldBe(2);
        run.Error.ShouldContain("give at most one");
    }

    [Fact]
    public async Task Vm_history_at_asks_for_that_time_and_shows_the_record()
    {
        var run = await Xapi("vm-history", HaltedVm, "--at", "2025-01-01T11:00:00+01:00");

        run.ExitCode.ShouldBe(0, run.Error);
        api.Requests.ShouldContain($"GET /api/vms/{HaltedVm}/history?at=2025-01-01T10%3A00%3A00.0000000%2B00%3A00");
        Cells(Row(run.Out, " nameLabel ")).ShouldBe(["nameLabel", "web01-as-it-was"]);
        Cells(Row(run.Out, " powerState ")).ShouldBe(["powerState", "Halted"]);
    }

    [Fact]
    public async Task Ambiguous_vm_name_fails_and_lists_the_candidates()
    {
        var run = await Xapi("vm-start", "twin");

        run.ExitCode.ShouldBe(1);
        run.Error.ShouldContain("2 VMs are named 'twin'");
        run.Error.ShouldContain(Twin1);
        run.Error.ShouldContain(Twin2);
        api.Requests.ShouldNotContain(r => r.StartsWith("POST", StringComparison.Ordinal) && r.Contains(Twin1, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Unknown_vm_name_fails_without_calling_the_vm()
    {
        var run = await Xapi("vm-show", "nosuchvm");

        run.ExitCode.ShouldBe(1);
        run.Error.Trim().ShouldBe("error: no VM is named 'nosuchvm'");
    }

    /// <summary>The one output line that contains <paramref name="marker"/>.</summary>
    private static string Row(string output, string marker) =>
        output.Split('\n').Single(line => line.Contains(marker, StringComparison.Ordinal));

    /// <summary>The trimmed cells of a table row, whatever border characters the console chose.</summary>
    private static string[] Cells(string row) =>
        [.. row.Split('│', '|').Select(c => c.Trim()).Where(c => c.Length > 0)];
}
