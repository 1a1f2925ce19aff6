using System.Text.Json;
using Shouldly;
using static Xapi.Cqrs.Cli.Tests.ApiStub;

namespace Xapi.Cqrs.Cli.Tests;

/// <summary>The VM lifecycle verbs (API.md "VM lifecycle"): the exact call each one sends, and what it prints of the answer.</summary>
public sealed class LifecycleTests(ApiStub api) : IClassFixture<ApiStub>
{
    private Task<CliRun> Xapi(params string[] args) => Cli.Run([.. args, "--server", api.Url, "--token", AdminToken]);

    [Fact]
    public async Task Vm_shutdown_by_name_posts_clean_shutdown_without_a_body_and_prints_halted()
    {
        var run = await Xapi("vm-shutdown", "db01");

        run.ExitCode.ShouldBe(0, run.Error);
        api.Posts.Last().ShouldBe(new Post($"POST /api/vms/{RunningVm}/clean-shutdown", ""));
        run.Out.Trim().ShouldBe($"db01 ({RunningVm}) is Halted");
    }

    [Fact]
    public async Task Vm_shutdown_force_posts_hard_shutdown()
    {
        var run = await Xapi("vm-shutdown", PausedVm, "--force");

        run.ExitCode.ShouldBe(0, run.Error);
        api.Posts.Last().ShouldBe(new Post($"POST /api/vms/{PausedVm}/hard-shutdown", ""));
        run.Out.Trim().ShouldBe($"app01 ({PausedVm}) is Halted");
    }

    [Fact]
    public async Task Vm_reboot_posts_clean_reboot_and_prints_the_host_it_runs_on()
    {
        var run = await Xapi("vm-reboot", "db01");

        run.ExitCode.ShouldBe(0, run.Error);
        api.Posts.Last().ShouldBe(new Post($"POST /api/vms/{RunningVm}/clean-reboot", ""));
        run.Out.Trim().ShouldBe($"db01 ({RunningVm}) is Running on host-a ({HostA})");
    }

    [Fact]
    public async Task Vm_reboot_force_posts_hard_reboot()
    {
        var run = await Xapi("vm-reboot", RunningVm, "--force");

        run.ExitCode.ShouldBe(0, run.Error);
        api.Posts.Last().ShouldBe(new Post($"POST /api/vms/{RunningVm}/hard-reboot", ""));
        run.Out.Trim().ShouldBe($"db01 ({RunningVm}) is Running on host-a ({HostA})");
    }

    [Fact]
    public async Task Vm_pause_posts_pause_and_prints_paused()
    {
        var run = await Xapi("vm-pause", "db01");

        run.ExitCode.ShouldBe(0, run.Error);
        api.Posts.Last().ShouldBe(new Post($"POST /api/vms/{RunningVm}/pause", ""));
        run.Out.Trim().ShouldBe($"db01 ({RunningVm}) is Paused on host-a ({HostA})");
    }

    [Fact]
    public async Task Vm_unpause_posts_unpause_and_prints_running()
    {
        var run = await Xapi("vm-unpause", "app01");

        run.ExitCode.ShouldBe(0, run.Error);
        api.Posts.Last().ShouldBe(new Post($"POST /api/vms/{PausedVm}/unpause", ""));
        run.Out.Trim().ShouldBe($"app01 ({PausedVm}) is Running on host-a ({HostA})");
    }

    [Fact]
    public async Task Vm_shutdown_json_prints_the_vm_record_the_server_answered()
    {
        var before = api.Requests.Count;

        var run = await Xapi("vm-shutdown", RunningVm, "--json");

        run.ExitCode.ShouldBe(0, run.Error);
        using var doc = JsonDocument.Parse(run.Out);
        doc.RootElement.GetProperty("powerState").GetString().ShouldBe("Halted");
        doc.RootElement.GetProperty("domid").GetInt64().ShouldBe(-1);
        api.Requests.Skip(before).ShouldBe([$"POST /api/vms/{RunningVm}/clean-shutdown"]); // a uuid needs no lookup, --json no host name
    }

    [Fact]
    public async Task Vm_destroy_by_name_posts_destroy_and_says_so()
    {
        var run = await Xapi("vm-destroy", "web01");

        run.ExitCode.ShouldBe(0, run.Error);
        api.Posts.Last().ShouldBe(new Post($"POST /api/vms/{HaltedVm}/destroy", ""));
        run.Out.Trim().ShouldBe($"VM web01 ({HaltedVm}) is destroyed");
    }

    [Fact]
    public async Task Vm_destroy_json_with_an_empty_answer_prints_nothing()
    {
        var run = await Xapi("vm-destroy", HaltedVm, "--json");

        run.ExitCode.ShouldBe(0, run.Error);
        api.Posts.Last().ShouldBe(new Post($"POST /api/vms/{HaltedVm}/destroy", ""));
        run.Out.ShouldBeEmpty();
    }

    [Fact]
    public async Task Running_vm_destroy_exits_1_with_bad_power_state_and_params()
    {
        var run = await Xapi("vm-destroy", "db01");

        run.ExitCode.ShouldBe(1);
        run.Error.ShouldContain("VM_BAD_POWER_STATE (HTTP 409)");
        run.Error.ShouldContain($"""params: ["{RunningVm}", "halted", "running"]""");
        run.Out.ShouldBeEmpty();
    }

    [Fact]
    public async Task Halted_vm_pause_exits_1_with_bad_power_state()
    {
        var run = await Xapi("vm-pause", HaltedVm);

        run.ExitCode.ShouldBe(1);
        run.Error.ShouldContain("VM_BAD_POWER_STATE (HTTP 409)");
        run.Error.ShouldContain($"""params: ["{HaltedVm}", "running", "halted"]""");
    }

    [Fact]
    public async Task Ambiguous_vm_name_shutdown_fails_before_posting()
    {
        var before = api.Posts.Count;

        var run = await Xapi("vm-shutdown", "twin", "--force");

        run.ExitCode.ShouldBe(1);
        run.Error.ShouldContain("2 VMs are named 'twin'");
        api.Posts.Count.ShouldBe(before);
    }

    [Fact]
    public async Task Read_only_token_shutdown_exits_4_with_rbac_code()
    {
        var run = await Cli.Run("vm-shutdown", RunningVm, "--server", api.Url, "--token", ReadOnlyToken);

        run.ExitCode.ShouldBe(4);
        run.Error.ShouldContain("RBAC_PERMISSION_DENIED (HTTP 403)");
    }

    [Fact]
    public async Task Vm_disk_add_by_names_resolves_the_vdi_and_posts_a_plugged_disk_with_autodetect()
    {
        var before = api.Requests.Count;

        var run = await Xapi("vm-disk-add", "db01", "disk1");

        run.ExitCode.ShouldBe(0, run.Error);
        api.Posts.Last().ShouldBe(new Post($"POST /api/vms/{RunningVm}/vbds",
            $$"""{"vdiId":"{{Disk1}}","userdevice":"autodetect","mode":"RW","type":"Disk","plug":true}"""));
        var vbd = api.LastCreatedVbd.ShouldNotBeNull();
        api.Requests.Skip(before).ShouldBe(["GET /api/vms", "GET /api/vdis", $"POST /api/vms/{RunningVm}/vbds", $"GET /api/vbds/{vbd}"]);
        run.Out.Trim().ShouldBe($"VBD {vbd} connects VDI disk1 ({Disk1}) to VM db01 ({RunningVm}) as userdevice 2 (xvdc), RW, plugged");
    }

    [Fact]
    public async Task Vm_disk_add_with_device_and_mode_sends_them_as_given_and_uses_a_vdi_uuid_as_is()
    {
        var before = api.Requests.Count;

        var run = await Xapi("vm-disk-add", HaltedVm, Iso, "--device", "3", "--mode", "ro");

        run.ExitCode.ShouldBe(0, run.Error);
        api.Posts.Last().ShouldBe(new Post($"POST /api/vms/{HaltedVm}/vbds",
            $$"""{"vdiId":"{{Iso}}","userdevice":"3","mode":"RO","type":"Disk","plug":true}"""));
        var vbd = api.LastCreatedVbd.ShouldNotBeNull();
        api.Requests.Skip(before).ShouldBe([$"POST /api/vms/{HaltedVm}/vbds", $"GET /api/vbds/{vbd}"]); // uuids are used as given
        run.Out.Trim().ShouldBe($"VBD {vbd} connects VDI {Iso} to VM {HaltedVm} as userdevice 3, RO, unplugged");
    }

    [Fact]
    public async Task Vm_disk_add_json_prints_the_created_answer()
    {
        var run = await Xapi("vm-disk-add", HaltedVm, Disk1, "--json");

        run.ExitCode.ShouldBe(0, run.Error);
        using var doc = JsonDocument.Parse(run.Out);
        doc.RootElement.GetProperty("id").GetString().ShouldBe(api.LastCreatedVbd);
    }

    [Fact]
    public async Task Vm_disk_add_on_a_taken_userdevice_exits_1_with_device_already_exists()
    {
        var run = await Xapi("vm-disk-add", "db01", "disk1", "--device", "0");

        run.ExitCode.ShouldBe(1);
        run.Error.ShouldContain("DEVICE_ALREADY_EXISTS (HTTP 409)");
        run.Error.ShouldContain("""params: ["0"]""");
    }

    [Fact]
    public async Task Vm_disk_add_with_an_unknown_vdi_name_fails_before_posting()
    {
        var before = api.Posts.Count;

        var run = await Xapi("vm-disk-add", "db01", "nosuchdisk");

        run.ExitCode.ShouldBe(1);
        run.Error.Trim().ShouldBe("error: no VDI is named 'nosuchdisk'");
        api.Posts.Count.ShouldBe(before);
    }

    [Fact]
    public async Task Vm_disk_add_with_an_ambiguous_vdi_name_lists_the_candidates()
    {
        var run = await Xapi("vm-disk-add", "db01", "scratch");

        run.ExitCode.ShouldBe(1);
        run.Error.ShouldContain("2 VDIs are named 'scratch'");
        run.Error.ShouldContain(Scratch1);
        run.Error.ShouldContain(Scratch2);
    }

    [Fact]
    public async Task Vm_disk_add_with_an_unknown_vdi_uuid_exits_1_with_handle_invalid()
    {
        const string unknown = "01234567-89ab-cdef-0123-456789abcdef";

        var run = await Xapi("vm-disk-add", "db01", unknown);

        run.ExitCode.ShouldBe(1);
        run.Error.ShouldContain("HANDLE_INVALID (HTTP 404)");
        run.Error.ShouldContain($"""params: ["VDI", "{unknown}"]""");
    }

    [Fact]
    public async Task Vbd_plug_posts_plug_and_prints_the_device_and_vm_name()
    {
        var run = await Xapi("vbd-plug", UnpluggedVbd);

        run.ExitCode.ShouldBe(0, run.Error);
        api.Posts.Last().ShouldBe(new Post($"POST /api/vbds/{UnpluggedVbd}/plug", ""));
        run.Out.Trim().ShouldBe($"VBD {UnpluggedVbd} (userdevice 1 (xvdb), RO Disk) of VM db01 ({RunningVm}) is plugged");
    }

    [Fact]
    public async Task Vbd_unplug_posts_unplug_and_prints_unplugged()
    {
        var run = await Xapi("vbd-unplug", PluggedVbd);

        run.ExitCode.ShouldBe(0, run.Error);
        api.Posts.Last().ShouldBe(new Post($"POST /api/vbds/{PluggedVbd}/unplug", ""));
        run.Out.Trim().ShouldBe($"VBD {PluggedVbd} (userdevice 0 (xvda), RW Disk) of VM db01 ({RunningVm}) is unplugged");
    }

    [Fact]
    public async Task Attached_vbd_plug_exits_1_with_device_already_attached()
    {
        var run = await Xapi("vbd-plug", PluggedVbd);

        run.ExitCode.ShouldBe(1);
        run.Error.ShouldContain("DEVICE_ALREADY_ATTACHED (HTTP 409)");
        run.Error.ShouldContain($"""params: ["{PluggedVbd}"]""");
        run.Out.ShouldBeEmpty();
    }

    [Fact]
    public async Task Unknown_vbd_unplug_exits_1_with_handle_invalid()
    {
        const string unknown = "01234567-89ab-cdef-0123-456789abcdef";

        var run = await Xapi("vbd-unplug", unknown);

        run.ExitCode.ShouldBe(1);
        run.Error.ShouldContain("HANDLE_INVALID (HTTP 404)");
        run.Error.ShouldContain($"""params: ["VBD", "{unknown}"]""");
    }

    [Fact]
    public async Task Vif_plug_posts_plug_and_prints_device_and_mac()
    {
        var run = await Xapi("vif-plug", UnpluggedVif);

        run.ExitCode.ShouldBe(0, run.Error);
        api.Posts.Last().ShouldBe(new Post($"POST /api/vifs/{UnpluggedVif}/plug", ""));
        run.Out.Trim().ShouldBe($"VIF {UnpluggedVif} (device 1, MAC 00:16:3e:65:43:21) of VM db01 ({RunningVm}) is plugged");
    }

    [Fact]
    public async Task Vif_unplug_posts_unplug_and_prints_unplugged()
    {
        var run = await Xapi("vif-unplug", PluggedVif);

        run.ExitCode.ShouldBe(0, run.Error);
        api.Posts.Last().ShouldBe(new Post($"POST /api/vifs/{PluggedVif}/unplug", ""));
        run.Out.Trim().ShouldBe($"VIF {PluggedVif} (device 0, MAC 00:16:3e:12:34:56) of VM db01 ({RunningVm}) is unplugged");
    }

    [Fact]
    public async Task Detached_vif_unplug_exits_1_with_device_already_detached()
    {
        var run = await Xapi("vif-unplug", UnpluggedVif);

        run.ExitCode.ShouldBe(1);
        run.Error.ShouldContain("DEVICE_ALREADY_DETACHED (HTTP 409)");
        run.Error.ShouldContain($"""params: ["{UnpluggedVif}"]""");
    }

    [Theory]
    [InlineData("vbd-plug", "xvda")]
    [InlineData("vif-unplug", "eth0")]
    [InlineData("vm-disk-add", "db01", "disk1", "--device", "xvdb")]
    [InlineData("vm-disk-add", "db01", "disk1", "--device", "-1")]
    [InlineData("vm-disk-add", "db01", "disk1", "--mode", "rw+")]
    [InlineData("vm-disk-add", "db01")]
    [InlineData("vm-shutdown")]
    public async Task Bad_usage_exits_2_before_calling_the_server(params string[] args)
    {
        var before = api.Requests.Count;

        var run = await Xapi(args);

        run.ExitCode.ShouldBe(2);
        run.Error.ShouldStartWith("error: ");
        api.Requests.Count.ShouldBe(before);
    }

    [Fact]
    public async Task Help_lists_every_lifecycle_verb()
    {
        var run = await Cli.Run("--help");

        run.ExitCode.ShouldBe(0, run.Error);
        foreach (var verb in new[]
                 {
                     "vm-shutdown", "vm-reboot", "vm-pause", "vm-unpause", "vm-destroy", "vm-disk-add",
                     "vbd-plug", "vbd-unplug", "vif-plug", "vif-unplug",
                 })
        {
            run.Out.ShouldContain(verb);
        }
    }
}
