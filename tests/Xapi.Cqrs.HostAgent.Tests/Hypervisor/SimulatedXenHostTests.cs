using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Shouldly;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.HostAgent.Hypervisor;
using Xapi.Cqrs.HostAgent.Hypervisor.Simulated;
using Xunit;
using static Xapi.Cqrs.HostAgent.Tests.Hypervisor.Sim;

namespace Xapi.Cqrs.HostAgent.Tests.Hypervisor;

public sealed class SimulatedXenHostTests
{
    // ---------------------------------------------------------------- domids

    [Fact]
    public async Task Domids_start_at_highest_existing_plus_one_and_are_then_incremented_not_reused()
    {
        using var host = Host();
        var a = await host.CreateDomainAsync(Hvm(), Ct);
        var b = await host.CreateDomainAsync(Hvm(), Ct);
        a.Domid.ShouldBe(1);
        b.Domid.ShouldBe(2);

        await host.DestroyDomainAsync(b.VmId, Ct);
        var c = await host.CreateDomainAsync(Hvm(), Ct);
        c.Domid.ShouldBe(3); // xenopsd's simulator (and Xen) move on; a freed domid is not handed out again at once

        await host.DestroyDomainAsync(a.VmId, Ct);
        await host.DestroyDomainAsync(c.VmId, Ct);
        (await host.CreateDomainAsync(Hvm(), Ct)).Domid.ShouldBe(4);
    }

    [Fact]
    public async Task Dom0_is_in_xenstore_but_not_listed_and_guests_are_listed_by_domid()
    {
        using var host = Host();
        host.ReadXenstore("/local/domain/0")!.ValueAt("name").ShouldBe("Domain-0");
        host.ListDomains().ShouldBeEmpty();

        var a = await host.CreateDomainAsync(Hvm(), Ct);
        var b = await host.CreateDomainAsync(Pv(), Ct);
        host.ListDomains().Select(d => d.Domid).ShouldBe([1, 2]);
        host.FindDomain(b.VmId)!.Domid.ShouldBe(2);
        host.FindDomain(Guid.NewGuid()).ShouldBeNull();
        a.State.ShouldBe(DomainStates.Paused);
    }

    [Fact]
    public async Task Creating_a_second_domain_for_the_same_vm_fails_already_exists_and_reserves_nothing()
    {
        using var host = Host();
        var spec = Hvm();
        await host.CreateDomainAsync(spec, Ct);
        var free = host.MemoryFree;

        var ex = await Should.ThrowAsync<HypervisorException>(() => host.CreateDomainAsync(spec, Ct));
        ex.Code.ShouldBe(ErrorCodes.InternalError);
        ex.Params[0].ShouldStartWith("Already_exists");
        host.MemoryFree.ShouldBe(free);
        host.ListDomains().Count.ShouldBe(1);
    }

    // ---------------------------------------------------------------- the §6.3 sequence

    [Fact]
    public async Task Create_writes_the_domain_tree_of_6_6()
    {
        using var host = Host();
        var spec = Hvm();
        var info = await host.CreateDomainAsync(spec, Ct);

        info.Domid.ShouldBe(1);
        info.State.ShouldBe(DomainStates.Paused);
        info.ActionRequest.ShouldBe("poweroff");
        info.Built.ShouldBeFalse();
        info.DeviceModel.ShouldBeFalse();
        info.Vcpus.ShouldBe(2);
        info.VcpusMax.ShouldBe(4);
        info.MemoryTarget.ShouldBe(4 * GiB);

        var dom = host.ReadXenstore("/local/domain/1")!;
        dom.ValueAt("vm").ShouldBe($"/vm/{spec.VmId}");
        dom.ValueAt("name").ShouldBe("web01");
        dom.ValueAt("domid").ShouldBe("1");
        dom.ValueAt("action-request").ShouldBe("poweroff");
        Guid.TryParse(dom.ValueAt("unique-domain-id"), out _).ShouldBeTrue();
        dom.ValueAt("control/platform-feature-multiprocessor-suspend").ShouldBe("1");
        dom.ValueAt("control/platform-feature-xs_reset_watches").ShouldBe("1");
        dom.ValueAt("control/has-vendor-device").ShouldBe("0");
        dom.ValueAt("platform/viridian").ShouldBe("true");
        dom.ValueAt("platform/device-model").ShouldBe("qemu-upstream-compat");
        dom.ValueAt("bios-strings/bios-vendor").ShouldBe("Xen");
        dom.ValueAt("memory/initial-target").ShouldBe("4194304");
        dom.ValueAt("memory/target").ShouldBe("4194304");
        dom.ValueAt("memory/static-max").ShouldBe("4194304");
        dom.ValueAt("memory/dynamic-min").ShouldBe("2097152");
        dom.ValueAt("memory/dynamic-max").ShouldBe("4194304");
        dom.ValueAt("cpu/0/availability").ShouldBe("online");
        dom.ValueAt("cpu/1/availability").ShouldBe("online");
        dom.ValueAt("cpu/2/availability").ShouldBe("offline");
        dom.ValueAt("cpu/3/availability").ShouldBe("offline");
        dom.Find("cpu")!.Children.Count.ShouldBe(4);
        dom.ValueAt("domain-type").ShouldBe("hvm");
        dom.ValueAt("hvmloader/pci/xen-platform-pci-bar-uc").ShouldBe("1");
        dom.ValueAt("vm-data/role").ShouldBe("frontend");
        dom.Find("secret").ShouldBeNull(); // xenstore_data outside vm-data/ and FIST/ is not written
        foreach (var dir in new[] { "device/vbd", "device/vif", "device/9pfs", "feature", "error", "drivers", "data", "attr", "xenserver/attr", "messages", "rrd" })
        {
            dom.Find(dir).ShouldNotBeNull(dir);
        }

        var vm = host.ReadXenstore($"/vm/{spec.VmId}")!;
        vm.ValueAt("uuid").ShouldBe(spec.VmId.ToString());
        vm.ValueAt("name").ShouldBe("web01");
        vm.ValueAt("domains/1").ShouldBe("/local/domain/1");
        long.TryParse(vm.ValueAt("domains/1/create-time"), out var createTime).ShouldBeTrue();
        createTime.ShouldBeGreaterThan(0);
        host.ReadXenstore("/libxl/1/type")!.Value.ShouldBe("HVM");
        host.ReadXenstore("/xenops/domain/1/device/vbd").ShouldNotBeNull();
    }

    [Fact]
    public async Task Uefi_hvm_writes_hvmloader_bios_ovmf()
    {
        using var host = Host();
        await host.CreateDomainAsync(Hvm() with { Firmware = "uefi" }, Ct);
        host.ReadXenstore("/local/domain/1/hvmloader/bios")!.Value.ShouldBe("ovmf");
    }

    [Fact]
    public async Task Build_writes_store_and_console_keys_and_reports_kernel_shadow_and_vcpu_parameters()
    {
        using var host = Host();
        var spec = Hvm();
        await host.CreateDomainAsync(spec, Ct);

        var build = await host.BuildDomainAsync(spec.VmId, Ct);

        build.Domid.ShouldBe(1);
        build.Kernel.ShouldBe("hvmloader");
        build.ShadowMib.ShouldBe(36); // ⌈(256·4 + 2·4096)/256⌉ × 1.0
        build.VcpuAffinity.ShouldBe("0,1");
        build.VcpuWeight.ShouldBe(512);
        build.VcpuCap.ShouldBe(DomainSpec.DefaultVcpuCap);
        var dom = host.ReadXenstore("/local/domain/1")!;
        dom.ValueAt("store/port").ShouldBe("5");
        dom.ValueAt("store/ring-ref").ShouldBe("1044476");
        dom.ValueAt("console/port").ShouldBe("6");
        dom.ValueAt("console/ring-ref").ShouldBe("1044479");
        dom.ValueAt("console/limit").ShouldBe("65536");
        dom.ValueAt("serial/0/limit").ShouldBe("65536");
        dom.ValueAt("memory/static-max").ShouldBe("4194304");
        dom.ValueAt("memory/target").ShouldBe("4194304");
        dom.ValueAt("vcpu-params/affinity").ShouldBe("0,1");
        dom.ValueAt("vcpu-params/weight").ShouldBe("512");
        dom.ValueAt("vcpu-params/cap").ShouldBe("0");
        host.ReadXenstore($"/vm/{spec.VmId}/rtc/timeoffset")!.Value.ShouldBe("0");
        host.FindDomain(spec.VmId)!.Built.ShouldBeTrue();
    }

    [Fact]
    public async Task Build_defaults_affinity_all_weight_256_cap_0_and_scales_shadow_by_the_multiplier()
    {
        using var host = Host();
        var spec = Hvm() with { VcpusParams = ImmutableDictionary<string, string>.Empty, HvmShadowMultiplier = 2.5 };
        await host.CreateDomainAsync(spec, Ct);

        var build = await host.BuildDomainAsync(spec.VmId, Ct);

        build.VcpuAffinity.ShouldBe("all");
        build.VcpuWeight.ShouldBe(256);
        build.VcpuCap.ShouldBe(0);
        build.ShadowMib.ShouldBe(90); // ⌊36 × 2.5⌋
    }

    [Fact]
    public async Task Full_hvm_start_sequence_with_two_rw_one_ro_vbd_and_two_vifs()
    {
        using var host = Host();
        var spec = Hvm();
        var vm = spec.VmId;
        var (rw0, rw1, cd) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        var (vif0, vif1) = (Guid.NewGuid(), Guid.NewGuid());
        var vdi0 = Guid.NewGuid();

        await host.CreateDomainAsync(spec, Ct);
        await host.BuildDomainAsync(vm, Ct);
        var p0 = await host.PlugVbdAsync(vm, Disk(rw0, 0, VbdMode.RW, vdi0), Ct);
        var p1 = await host.PlugVbdAsync(vm, Disk(rw1, 1, VbdMode.RW), Ct);
        var p3 = await host.PlugVbdAsync(vm, new VbdSpec { VbdId = cd, Position = 3, Mode = VbdMode.RO, Type = VbdType.CD, VdiId = Guid.NewGuid() }, Ct);
        var n0 = await host.PlugVifAsync(vm, Nic(vif0, 0), Ct);
        var n1 = await host.PlugVifAsync(vm, Nic(vif1, 1) with { Mtu = 9000 }, Ct);
        var dm = await host.CreateDeviceModelAsync(vm, Ct);

        // PlugInfo: names and devids
        (p0.Device, p0.Devid, p0.Kind).ShouldBe(("hda", 768, "vbd"));
        (p1.Device, p1.Devid).ShouldBe(("hdb", 832));
        (p3.Device, p3.Devid).ShouldBe(("hdd", 5696));
        (n0.Device, n0.Devid, n0.Kind).ShouldBe(("0", 0, "vif"));
        p0.FrontendPath.ShouldBe("/local/domain/1/device/vbd/768");
        p0.BackendPath.ShouldBe("/local/domain/0/backend/vbd/1/768");
        n1.BackendPath.ShouldBe("/local/domain/0/backend/vif/1/1");

        // VBD frontend / backend / private / hotplug / active (§6.7)
        var front = host.ReadXenstore("/local/domain/1/device/vbd/768")!;
        front.ValueAt("backend").ShouldBe("/local/domain/0/backend/vbd/1/768");
        front.ValueAt("backend-id").ShouldBe("0");
        front.ValueAt("virtual-device").ShouldBe("768");
        front.ValueAt("device-type").ShouldBe("disk");
        front.ValueAt("state").ShouldBe("4");
        var back = host.ReadXenstore("/local/domain/0/backend/vbd/1/768")!;
        back.ValueAt("frontend").ShouldBe("/local/domain/1/device/vbd/768");
        back.ValueAt("frontend-id").ShouldBe("1");
        back.ValueAt("online").ShouldBe("1");
        back.ValueAt("removable").ShouldBe("1");
        back.ValueAt("dev").ShouldBe("hda");
        back.ValueAt("type").ShouldBe("phy");
        back.ValueAt("mode").ShouldBe("w");
        back.ValueAt("params").ShouldBe($"/dev/sm/backend/{vdi0}");
        back.ValueAt("state").ShouldBe("4");
        back.ValueAt("physical-device").ShouldNotBeNullOrEmpty();
        back.ValueAt("hotplug-status").ShouldBe("connected");
        host.ReadXenstore("/xenops/domain/1/device/vbd/768/backend")!.Value.ShouldBe("/local/domain/0/backend/vbd/1/768");
        host.ReadXenstore($"/xapi/{vm}/private/vbd/768/backend-kind")!.Value.ShouldBe("vbd");
        host.ReadXenstore($"/xapi/{vm}/private/vbd/768/backend-id")!.Value.ShouldBe("0");
        host.ReadXenstore($"/xapi/{vm}/hotplug/1/vbd/768/hotplug")!.Value.ShouldBe("online");
        host.ReadXenstore($"/vm/{vm}/devices/vbd/768")!.Value.ShouldBe("1");
        host.ReadXenstore("/local/domain/0/backend/vbd/1/832/mode")!.Value.ShouldBe("w");
        host.ReadXenstore("/local/domain/0/backend/vbd/1/5696/mode")!.Value.ShouldBe("r");
        host.ReadXenstore("/local/domain/1/device/vbd/5696/device-type")!.Value.ShouldBe("cdrom");

        // VIF frontend / backend / private / hotplug / active (§6.7)
        var vfront = host.ReadXenstore("/local/domain/1/device/vif/1")!;
        vfront.ValueAt("backend").ShouldBe("/local/domain/0/backend/vif/1/1");
        vfront.ValueAt("backend-id").ShouldBe("0");
        vfront.ValueAt("handle").ShouldBe("1");
        vfront.ValueAt("mac").ShouldBe("00:16:3e:00:00:01");
        vfront.ValueAt("disconnect").ShouldBe("0");
        vfront.ValueAt("mtu").ShouldBe("9000");
        vfront.ValueAt("state").ShouldBe("4");
        var vback = host.ReadXenstore("/local/domain/0/backend/vif/1/1")!;
        vback.ValueAt("frontend").ShouldBe("/local/domain/1/device/vif/1");
        vback.ValueAt("frontend-id").ShouldBe("1");
        vback.ValueAt("online").ShouldBe("1");
        vback.ValueAt("script").ShouldBe("/etc/xensource/scripts/vif");
        vback.ValueAt("mac").ShouldBe("00:16:3e:00:00:01");
        vback.ValueAt("handle").ShouldBe("1");
        vback.ValueAt("bridge").ShouldBe("xenbr0");
        vback.ValueAt("hotplug-status").ShouldBe("connected");
        host.ReadXenstore($"/xapi/{vm}/private/vif/1/MTU")!.Value.ShouldBe("9000");
        host.ReadXenstore($"/xapi/{vm}/private/vif/1/bridge")!.Value.ShouldBe("xenbr0");
        host.ReadXenstore($"/xapi/{vm}/hotplug/1/vif/0/hotplug")!.Value.ShouldBe("online");
        host.ReadXenstore($"/vm/{vm}/devices/vif/0")!.Value.ShouldBe("1");
        host.ReadXenstore("/local/domain/1/device/vif")!.Children.Select(c => c.Name).ShouldBe(["0", "1"]);

        // device model: qemu emulating both NICs, console over VNC
        dm.Kind.ShouldBe("qemu-upstream-compat");
        dm.EmulatedNics.ShouldBe(2);
        dm.VncPort.ShouldNotBeNull();
        host.ReadXenstore("/local/domain/1/console/vnc-port")!.Value.ShouldBe(dm.VncPort.ToString());
        host.ReadXenstore("/local/domain/0/device-model/1/state")!.Value.ShouldBe("running");

        var before = host.FindDomain(vm)!;
        before.Vbds.ShouldBe([rw0, rw1, cd]);
        before.Vifs.ShouldBe([vif0, vif1]);
        before.DeviceModel.ShouldBeTrue();
        before.ActionRequest.ShouldBe("poweroff");
        before.State.ShouldBe(DomainStates.Paused);

        await host.ClearActionRequestAsync(vm, Ct);
        var survivable = host.FindDomain(vm)!;
        survivable.ActionRequest.ShouldBeNull();
        host.ReadXenstore("/local/domain/1/action-request").ShouldBeNull();
        survivable.State.ShouldBe(DomainStates.Paused);

        await host.UnpauseAsync(vm, Ct);
        host.FindDomain(vm)!.State.ShouldBe(DomainStates.Running);
        host.ListDomains().Single().State.ShouldBe(DomainStates.Running);
    }

    [Fact]
    public async Task Vbd_plug_writes_state_1_on_both_ends_and_completes_only_when_hotplug_has_connected()
    {
        var clock = new ManualClock();
        using var host = Host(clock);
        host.HotplugDelay = TimeSpan.FromMilliseconds(400);
        var spec = Hvm();
        await host.CreateDomainAsync(spec, Ct);

        var plug = host.PlugVbdAsync(spec.VmId, Disk(Guid.NewGuid(), 0, VbdMode.RW), Ct);

        host.ReadXenstore("/local/domain/1/device/vbd/768/state")!.Value.ShouldBe("1");
        host.ReadXenstore("/local/domain/0/backend/vbd/1/768/state")!.Value.ShouldBe("1");
        host.ReadXenstore("/local/domain/0/backend/vbd/1/768/hotplug-status").ShouldBeNull();
        clock.Advance(TimeSpan.FromMilliseconds(400));
        host.ReadXenstore("/local/domain/0/backend/vbd/1/768/state")!.Value.ShouldBe("2"); // InitWait
        host.ReadXenstore("/local/domain/0/backend/vbd/1/768/hotplug-status").ShouldBeNull();
        plug.IsCompleted.ShouldBeFalse();
        host.FindDomain(spec.VmId)!.Vbds.ShouldBeEmpty();

        clock.Advance(TimeSpan.FromMilliseconds(400));
        await plug.Within();
        host.ReadXenstore("/local/domain/0/backend/vbd/1/768/hotplug-status")!.Value.ShouldBe("connected");
        host.ReadXenstore("/local/domain/0/backend/vbd/1/768/state")!.Value.ShouldBe("4");
        host.FindDomain(spec.VmId)!.Vbds.Count.ShouldBe(1);
    }

    [Fact]
    public async Task Vif_plug_starts_at_state_1_with_online_backend_and_waits_for_the_hotplug_node()
    {
        var clock = new ManualClock();
        using var host = Host(clock);
        host.HotplugDelay = TimeSpan.FromMilliseconds(400);
        var spec = Hvm();
        await host.CreateDomainAsync(spec, Ct);

        var plug = host.PlugVifAsync(spec.VmId, Nic(Guid.NewGuid(), 0), Ct);

        host.ReadXenstore("/local/domain/1/device/vif/0/state")!.Value.ShouldBe("1");
        host.ReadXenstore("/local/domain/0/backend/vif/1/0/state")!.Value.ShouldBe("1");
        host.ReadXenstore("/local/domain/0/backend/vif/1/0/online")!.Value.ShouldBe("1");
        clock.Advance(TimeSpan.FromMilliseconds(799));
        host.ReadXenstore($"/xapi/{spec.VmId}/hotplug/1/vif/0/hotplug").ShouldBeNull();
        plug.IsCompleted.ShouldBeFalse();

        clock.Advance(TimeSpan.FromMilliseconds(1));
        await plug.Within();
        host.ReadXenstore($"/xapi/{spec.VmId}/hotplug/1/vif/0/hotplug")!.Value.ShouldBe("online");
        host.FindDomain(spec.VmId)!.Vifs.Count.ShouldBe(1);
    }

    [Fact]
    public async Task Plug_fails_after_the_hotplug_timeout_when_scripts_never_answer_and_leaves_no_device()
    {
        var clock = new ManualClock();
        using var host = Host(clock);
        host.HotplugScriptsEnabled = false;
        host.HotplugTimeout = TimeSpan.FromMilliseconds(250);
        var spec = Hvm();
        await host.CreateDomainAsync(spec, Ct);
        var plug = host.PlugVbdAsync(spec.VmId, Disk(Guid.NewGuid(), 0, VbdMode.RW), Ct);
        clock.Advance(TimeSpan.FromMilliseconds(249));
        plug.IsCompleted.ShouldBeFalse();

        clock.Advance(TimeSpan.FromMilliseconds(1));
        var ex = await Should.ThrowAsync<HypervisorException>(plug.Within());

        ex.Code.ShouldBe(ErrorCodes.InternalError);
        ex.Params[0].ShouldContain("Hotplug timeout");
        host.ReadXenstore("/local/domain/0/backend/vbd/1/768").ShouldBeNull();
        host.ReadXenstore("/local/domain/1/device/vbd/768").ShouldBeNull();
        host.ReadXenstore($"/vm/{spec.VmId}/devices/vbd/768").ShouldBeNull();
        host.FindDomain(spec.VmId)!.Vbds.ShouldBeEmpty();

        host.HotplugScriptsEnabled = true;
        (await host.PlugVbdAsync(spec.VmId, Disk(Guid.NewGuid(), 0, VbdMode.RW), Ct)).Device.ShouldBe("hda");
    }

    [Fact]
    public async Task Plug_fails_when_the_backend_reports_a_hotplug_error()
    {
        using var host = Host();
        host.HotplugScriptsEnabled = false;
        var spec = Hvm();
        await host.CreateDomainAsync(spec, Ct);

        var plug = host.PlugVbdAsync(spec.VmId, Disk(Guid.NewGuid(), 0, VbdMode.RW), Ct);
        host.Xenstore.Write("/local/domain/0/backend/vbd/1/768/hotplug-error", "tapdisk failed");

        var ex = await Should.ThrowAsync<HypervisorException>(() => plug);
        ex.Params[0].ShouldContain("tapdisk failed");
    }

    [Fact]
    public async Task Duplicate_vbd_position_and_duplicate_vif_device_are_rejected()
    {
        using var host = Host();
        var spec = Hvm();
        var first = Guid.NewGuid();
        await host.CreateDomainAsync(spec, Ct);
        await host.PlugVbdAsync(spec.VmId, Disk(first, 0, VbdMode.RW), Ct);
        await host.PlugVifAsync(spec.VmId, Nic(Guid.NewGuid(), 0), Ct);

        var vbd = await Should.ThrowAsync<HypervisorException>(() => host.PlugVbdAsync(spec.VmId, Disk(Guid.NewGuid(), 0, VbdMode.RO), Ct));
        vbd.Code.ShouldBe(ErrorCodes.InternalError);
        vbd.Params[0].ShouldStartWith("Already_exists");
        vbd.Params[0].ShouldContain("hda");
        var vif = await Should.ThrowAsync<HypervisorException>(() => host.PlugVifAsync(spec.VmId, Nic(Guid.NewGuid(), 0), Ct));
        vif.Params[0].ShouldStartWith("Already_exists");
        var sameVbd = await Should.ThrowAsync<HypervisorException>(() => host.PlugVbdAsync(spec.VmId, Disk(first, 5, VbdMode.RW), Ct));
        sameVbd.Params[0].ShouldStartWith("Already_exists");

        host.FindDomain(spec.VmId)!.Vbds.ShouldBe([first]);
        host.ReadXenstore("/local/domain/0/backend/vbd/1/768/mode")!.Value.ShouldBe("w");
        host.ReadXenstore("/local/domain/0/backend/vbd/1/768/hotplug-status")!.Value.ShouldBe("connected");
    }

    [Fact]
    public async Task Steps_on_a_vm_without_a_domain_fail_internal_error()
    {
        using var host = Host();
        var vm = Guid.NewGuid();

        (await Should.ThrowAsync<HypervisorException>(() => host.BuildDomainAsync(vm, Ct))).Params[0].ShouldStartWith("Does_not_exist");
        (await Should.ThrowAsync<HypervisorException>(() => host.PlugVbdAsync(vm, Disk(Guid.NewGuid(), 0, VbdMode.RW), Ct))).Code.ShouldBe(ErrorCodes.InternalError);
        (await Should.ThrowAsync<HypervisorException>(() => host.UnpauseAsync(vm, Ct))).Code.ShouldBe(ErrorCodes.InternalError);
        (await Should.ThrowAsync<HypervisorException>(() => host.ClearActionRequestAsync(vm, Ct))).Code.ShouldBe(ErrorCodes.InternalError);
    }

    // ---------------------------------------------------------------- unpause

    [Fact]
    public async Task Unpause_before_build_fails_domain_not_built_and_the_domain_stays_paused()
    {
        using var host = Host();
        var spec = Pv();
        await host.CreateDomainAsync(spec, Ct);

        var ex = await Should.ThrowAsync<HypervisorException>(() => host.UnpauseAsync(spec.VmId, Ct));

        ex.Code.ShouldBe(ErrorCodes.InternalError);
        ex.Params[0].ShouldStartWith("Domain_not_built");
        host.FindDomain(spec.VmId)!.State.ShouldBe(DomainStates.Paused);
    }

    [Fact]
    public async Task Hvm_unpause_needs_a_device_model_while_pv_does_not()
    {
        using var host = Host();
        var hvm = Hvm();
        var pv = Pv();
        await host.CreateDomainAsync(hvm, Ct);
        await host.CreateDomainAsync(pv, Ct);
        await host.BuildDomainAsync(hvm.VmId, Ct);
        await host.BuildDomainAsync(pv.VmId, Ct);

        (await Should.ThrowAsync<HypervisorException>(() => host.UnpauseAsync(hvm.VmId, Ct))).Params[0].ShouldStartWith("Domain_not_built");
        await host.UnpauseAsync(pv.VmId, Ct);

        host.FindDomain(pv.VmId)!.State.ShouldBe(DomainStates.Running);
        host.FindDomain(hvm.VmId)!.State.ShouldBe(DomainStates.Paused);
        await host.CreateDeviceModelAsync(hvm.VmId, Ct);
        await host.UnpauseAsync(hvm.VmId, Ct);
        host.FindDomain(hvm.VmId)!.State.ShouldBe(DomainStates.Running);
    }

    // ---------------------------------------------------------------- memory

    [Fact]
    public async Task Create_reserves_the_upper_bound_when_it_fits_and_destroy_frees_it()
    {
        using var host = Host(memoryTotal: 16 * GiB, hostOverhead: GiB);
        host.MemoryFree.ShouldBe(15 * GiB);
        var spec = Hvm();

        var info = await host.CreateDomainAsync(spec, Ct);

        info.MemoryReserved.ShouldBe((4 * GiB) + (37 * MiB)); // dynamic_max + overhead
        host.MemoryFree.ShouldBe((11 * GiB) - (37 * MiB));
        await host.DestroyDomainAsync(spec.VmId, Ct);
        host.MemoryFree.ShouldBe(15 * GiB);
        host.MemoryReserved.ShouldBe(0);
    }

    [Fact]
    public async Task Create_grants_what_is_left_between_the_bounds_and_balloons_the_target_down()
    {
        using var host = Host(memoryTotal: 8 * GiB, hostOverhead: GiB);
        await host.CreateDomainAsync(Hvm(), Ct); // takes 4 GiB + 37 MiB; 3 GiB − 37 MiB left
        var squeezed = Hvm() with { MemoryDynamicMin = GiB };

        var info = await host.CreateDomainAsync(squeezed, Ct);

        info.MemoryReserved.ShouldBe((3 * GiB) - (37 * MiB));
        info.MemoryTarget.ShouldBe((3 * GiB) - (74 * MiB)); // granted − overhead < dynamic_max
        host.ReadXenstore("/local/domain/2/memory/initial-target")!.Value.ShouldBe((((3 * GiB) - (74 * MiB)) / KiB).ToString(System.Globalization.CultureInfo.InvariantCulture));
        host.MemoryFree.ShouldBe(0);
    }

    [Fact]
    public async Task Create_fails_host_not_enough_free_memory_with_needed_and_available_when_the_lower_bound_does_not_fit()
    {
        using var host = Host(memoryTotal: 4 * GiB, hostOverhead: GiB);
        var tooBig = Hvm(); // dynamic_min 2 GiB + 37 MiB fits; make it not fit:
        tooBig = tooBig with { MemoryDynamicMin = 3 * GiB, MemoryDynamicMax = 4 * GiB };

        var ex = await Should.ThrowAsync<HypervisorException>(() => host.CreateDomainAsync(tooBig, Ct));

        ex.Code.ShouldBe(ErrorCodes.HostNotEnoughFreeMemory);
        ex.Params.ShouldBe([((3 * GiB) + (37 * MiB)).ToString(System.Globalization.CultureInfo.InvariantCulture), (3 * GiB).ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        host.ListDomains().ShouldBeEmpty();
        host.MemoryFree.ShouldBe(3 * GiB);
        host.ReadXenstore("/local/domain/1").ShouldBeNull();
    }

    [Fact]
    public async Task Concurrent_creates_never_overcommit_and_get_distinct_domids()
    {
        using var host = Host(memoryTotal: (3 * GiB) + (3 * 37 * MiB), hostOverhead: 0);
        var specs = Enumerable.Range(0, 12).Select(_ => Hvm() with { MemoryDynamicMin = GiB, MemoryDynamicMax = GiB }).ToList();

        var results = await Task.WhenAll(specs.Select(s => Task.Run(async () =>
        {
            try
            {
                return (DomainInfo?)await host.CreateDomainAsync(s, Ct);
            }
            catch (HypervisorException e) when (e.Code == ErrorCodes.HostNotEnoughFreeMemory)
            {
                return null;
            }
        }, Ct)));

        var created = results.OfType<DomainInfo>().ToList();
        created.Count.ShouldBe(3);
        created.Select(d => d.Domid).Distinct().Count().ShouldBe(3);
        host.MemoryFree.ShouldBe(0);
        host.MemoryReserved.ShouldBe(created.Sum(d => d.MemoryReserved));
    }

    [Fact]
    public async Task Concurrent_plugs_into_one_domain_all_complete()
    {
        using var host = Host();
        var spec = Hvm();
        await host.CreateDomainAsync(spec, Ct);

        var plugs = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => host.PlugVbdAsync(spec.VmId, Disk(Guid.NewGuid(), i, VbdMode.RW), Ct)));

        plugs.Select(p => p.Device).ShouldBe(["hda", "hdb", "hdc", "hdd", "xvde", "xvdf", "xvdg", "xvdh"]); // IDE for the first four (HVM)
        host.FindDomain(spec.VmId)!.Vbds.Count.ShouldBe(8);
    }

    // ---------------------------------------------------------------- device model, VNC

    [Fact]
    public async Task Device_model_writes_a_vnc_port_that_speaks_rfb_and_destroy_closes_it()
    {
        using var host = Host();
        var spec = Hvm();
        await host.CreateDomainAsync(spec, Ct);
        await host.BuildDomainAsync(spec.VmId, Ct);
        var dm = await host.CreateDeviceModelAsync(spec.VmId, Ct);
        var port = int.Parse(host.ReadXenstore("/local/domain/1/console/vnc-port")!.Value, System.Globalization.CultureInfo.InvariantCulture);
        port.ShouldBe(dm.VncPort!.Value);
        host.FindDomain(spec.VmId)!.VncPort.ShouldBe(port);

        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct))
        {
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
            var stream = client.GetStream();
            var version = new byte[12];
            await stream.ReadExactlyAsync(version, timeout.Token);
            Encoding.ASCII.GetString(version).ShouldBe("RFB 003.008\n");

            // the rest of the RFB 3.8 handshake: security None, then ServerInit
            await stream.WriteAsync(Encoding.ASCII.GetBytes("RFB 003.008\n"), timeout.Token);
            var types = new byte[2];
            await stream.ReadExactlyAsync(types, timeout.Token);
            types.ShouldBe(new byte[] { 1, 1 });
            await stream.WriteAsync(new byte[] { 1 }, timeout.Token);
            var result = new byte[4];
            await stream.ReadExactlyAsync(result, timeout.Token);
            BinaryPrimitives.ReadUInt32BigEndian(result).ShouldBe(0u);
            await stream.WriteAsync(new byte[] { 1 }, timeout.Token);
            var init = new byte[24];
            await stream.ReadExactlyAsync(init, timeout.Token);
            BinaryPrimitives.ReadUInt16BigEndian(init).ShouldBe((ushort)1024);
            var name = new byte[BinaryPrimitives.ReadUInt32BigEndian(init.AsSpan(20))];
            await stream.ReadExactlyAsync(name, timeout.Token);
            Encoding.UTF8.GetString(name).ShouldBe("web01");
        }

        await host.DestroyDomainAsync(spec.VmId, Ct);
        await Should.ThrowAsync<SocketException>(async () =>
        {
            using var again = new TcpClient();
            await again.ConnectAsync(IPAddress.Loopback, port, Ct);
        });
    }

    [Fact]
    public async Task Hvm_device_model_emulates_at_most_eight_nics()
    {
        using var host = Host();
        var spec = Hvm();
        await host.CreateDomainAsync(spec, Ct);
        await host.BuildDomainAsync(spec.VmId, Ct);
        for (var i = 0; i < 10; i++)
        {
            await host.PlugVifAsync(spec.VmId, Nic(Guid.NewGuid(), i), Ct);
        }

        (await host.CreateDeviceModelAsync(spec.VmId, Ct)).EmulatedNics.ShouldBe(SimulatedXenHost.MaxEmulatedNics);
    }

    [Fact]
    public async Task Pv_with_disable_pv_vnc_gets_no_console_listener_and_no_vnc_port()
    {
        using var host = Host();
        var spec = Pv() with { DisablePvVnc = true };
        await host.CreateDomainAsync(spec, Ct);
        await host.BuildDomainAsync(spec.VmId, Ct);

        var dm = await host.CreateDeviceModelAsync(spec.VmId, Ct);

        dm.Kind.ShouldBe("none");
        dm.VncPort.ShouldBeNull();
        dm.EmulatedNics.ShouldBe(0);
        host.ReadXenstore("/local/domain/1/console/vnc-port").ShouldBeNull();
        host.ReadXenstore("/local/domain/1/console/port").ShouldNotBeNull();
        host.FindDomain(spec.VmId)!.VncPort.ShouldBeNull();
    }

    [Fact]
    public async Task Pv_builds_its_bootloader_or_kernel_and_gets_a_vncterm_console()
    {
        using var host = Host();
        var grub = Pv();
        var direct = Pv() with { PvBootloader = "", PvKernel = "/boot/vmlinuz-guest" };
        await host.CreateDomainAsync(grub, Ct);
        await host.CreateDomainAsync(direct, Ct);

        var b1 = await host.BuildDomainAsync(grub.VmId, Ct);
        var b2 = await host.BuildDomainAsync(direct.VmId, Ct);
        var dm = await host.CreateDeviceModelAsync(grub.VmId, Ct);

        b1.Kernel.ShouldBe("pygrub");
        b2.Kernel.ShouldBe("/boot/vmlinuz-guest");
        b1.ShadowMib.ShouldBe(0);
        host.ReadXenstore("/local/domain/1/domain-type")!.Value.ShouldBe("pv");
        host.ReadXenstore("/libxl/1/type")!.Value.ShouldBe("PV");
        host.ReadXenstore("/local/domain/1/store/port")!.Value.ShouldBe("1");
        dm.Kind.ShouldBe("vncterm");
        host.ReadXenstore("/local/domain/1/console/vnc-port")!.Value.ShouldBe(dm.VncPort.ToString());
        host.ReadXenstore("/local/domain/0/device-model/1").ShouldBeNull();
    }

    [Fact]
    public async Task Pv_in_pvh_and_pvh_use_their_xenstore_domain_types()
    {
        using var host = Host();
        await host.CreateDomainAsync(Pv() with { DomainType = DomainType.PvInPvh }, Ct);
        await host.CreateDomainAsync(Hvm() with { DomainType = DomainType.Pvh }, Ct);

        host.ReadXenstore("/local/domain/1/domain-type")!.Value.ShouldBe("pv-in-pvh");
        host.ReadXenstore("/libxl/1/type")!.Value.ShouldBe("PVH");
        host.ReadXenstore("/local/domain/2/domain-type")!.Value.ShouldBe("pvh");
    }

    // ---------------------------------------------------------------- destroy

    [Fact]
    public async Task Destroy_removes_every_path_frees_memory_and_is_idempotent()
    {
        using var host = Host();
        var free = host.MemoryFree;
        var spec = Hvm();
        await StartAsync(host, spec);
        var other = Hvm();
        await host.CreateDomainAsync(other, Ct); // domain 2 must survive

        await host.DestroyDomainAsync(spec.VmId, Ct);

        foreach (var path in new[]
        {
            "/local/domain/1", $"/vm/{spec.VmId}", "/xenops/domain/1", "/libxl/1", "/local/domain/0/backend/vbd/1",
            "/local/domain/0/backend/vif/1", "/local/domain/0/device-model/1", $"/xapi/{spec.VmId}",
        })
        {
            host.ReadXenstore(path).ShouldBeNull(path);
        }

        var leftovers = host.ReadXenstore("/")!.Descendants()
            .Where(n => n.Path.Contains(spec.VmId.ToString(), StringComparison.Ordinal)
                || n.Value.Contains(spec.VmId.ToString(), StringComparison.Ordinal)
                || n.Path.StartsWith("/local/domain/1", StringComparison.Ordinal)
                || n.Value.StartsWith("/local/domain/1", StringComparison.Ordinal))
            .Select(n => n.Path)
            .ToList();
        leftovers.ShouldBeEmpty();
        host.FindDomain(spec.VmId).ShouldBeNull();
        host.ListDomains().Single().VmId.ShouldBe(other.VmId);
        host.ReadXenstore("/local/domain/2/action-request")!.Value.ShouldBe("poweroff");
        host.ReadXenstore("/local/domain/0/name")!.Value.ShouldBe("Domain-0");

        await host.DestroyDomainAsync(spec.VmId, Ct);
        await host.DestroyDomainAsync(Guid.NewGuid(), Ct);
        await host.DestroyDomainAsync(other.VmId, Ct);
        host.MemoryFree.ShouldBe(free);
        host.ListDomains().ShouldBeEmpty();
    }

    [Fact]
    public async Task Destroy_during_a_plug_fails_the_plug()
    {
        using var host = Host();
        host.HotplugScriptsEnabled = false;
        var spec = Hvm();
        await host.CreateDomainAsync(spec, Ct);
        var plug = host.PlugVbdAsync(spec.VmId, Disk(Guid.NewGuid(), 0, VbdMode.RW), Ct);

        await host.DestroyDomainAsync(spec.VmId, Ct);

        var ex = await Should.ThrowAsync<HypervisorException>(() => plug.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        ex.Params[0].ShouldStartWith("Device_not_found");
        host.ReadXenstore("/local/domain/0/backend/vbd/1").ShouldBeNull();
    }

    // ---------------------------------------------------------------- faults

    [Fact]
    public async Task Fault_at_vbd_plug_throws_the_given_code_once_then_the_step_works()
    {
        using var host = Host();
        var spec = Hvm();
        await host.CreateDomainAsync(spec, Ct);
        host.AddFault(new HypervisorFault(HypervisorStep.VbdPlug, Error: "SR_BACKEND_FAILURE_46"));

        var ex = await Should.ThrowAsync<HypervisorException>(() => host.PlugVbdAsync(spec.VmId, Disk(Guid.NewGuid(), 0, VbdMode.RW), Ct));

        ex.Code.ShouldBe("SR_BACKEND_FAILURE_46");
        ex.Params[0].ShouldBe(spec.VmId.ToString());
        host.Faults.ShouldBeEmpty();
        host.ReadXenstore("/local/domain/1/device/vbd/768").ShouldBeNull();
        (await host.PlugVbdAsync(spec.VmId, Disk(Guid.NewGuid(), 0, VbdMode.RW), Ct)).Device.ShouldBe("hda");
    }

    [Fact]
    public async Task Fault_count_is_respected_and_other_steps_are_unaffected()
    {
        using var host = Host();
        var spec = Hvm();
        await host.CreateDomainAsync(spec, Ct);
        host.AddFault(new HypervisorFault(HypervisorStep.VifPlug, Error: ErrorCodes.InternalError, Count: 2));
        host.Faults.Single().Count.ShouldBe(2);

        await Should.ThrowAsync<HypervisorException>(() => host.PlugVifAsync(spec.VmId, Nic(Guid.NewGuid(), 0), Ct));
        host.Faults.Single().Count.ShouldBe(1);
        await host.PlugVbdAsync(spec.VmId, Disk(Guid.NewGuid(), 0, VbdMode.RW), Ct); // other step: no fault
        var second = await Should.ThrowAsync<HypervisorException>(() => host.PlugVifAsync(spec.VmId, Nic(Guid.NewGuid(), 0), Ct));
        second.Code.ShouldBe(ErrorCodes.InternalError);
        second.Params[0].ShouldContain("vif_plug");
        host.Faults.ShouldBeEmpty();

        (await host.PlugVifAsync(spec.VmId, Nic(Guid.NewGuid(), 0), Ct)).Device.ShouldBe("0");
    }

    [Fact]
    public async Task Fault_delay_honours_cancellation()
    {
        using var host = Host();
        var free = host.MemoryFree;
        host.AddFault(new HypervisorFault(HypervisorStep.Create, DelayMs: 60_000));
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var create = host.CreateDomainAsync(Hvm(), cts.Token);
        create.IsCompleted.ShouldBeFalse(); // waiting the fault's delay (the clock does not move)

        await cts.CancelAsync();

        await Should.ThrowAsync<OperationCanceledException>(create.Within());
        host.ListDomains().ShouldBeEmpty();
        host.MemoryFree.ShouldBe(free);
        host.Faults.ShouldBeEmpty(); // the use was taken
    }

    [Fact]
    public async Task Fault_with_only_a_delay_slows_the_step_down_and_then_lets_it_succeed()
    {
        var clock = new ManualClock();
        using var host = Host(clock);
        var spec = Hvm();
        await host.CreateDomainAsync(spec, Ct);
        host.AddFault(new HypervisorFault(HypervisorStep.Build, DelayMs: 200));

        var building = host.BuildDomainAsync(spec.VmId, Ct);
        clock.Advance(TimeSpan.FromMilliseconds(199));
        building.IsCompleted.ShouldBeFalse();
        host.FindDomain(spec.VmId)!.Built.ShouldBeFalse();
        clock.Advance(TimeSpan.FromMilliseconds(1));

        (await building.Within()).Kernel.ShouldBe("hvmloader");
        host.FindDomain(spec.VmId)!.Built.ShouldBeTrue();
    }

    [Fact]
    public async Task Fault_defaults_and_clear()
    {
        using var host = Host(memoryTotal: 8 * GiB, hostOverhead: GiB);
        var spec = Hvm();
        host.AddFault(new HypervisorFault(HypervisorStep.Create, Error: ErrorCodes.HostNotEnoughFreeMemory));
        var memory = await Should.ThrowAsync<HypervisorException>(() => host.CreateDomainAsync(spec, Ct));
        memory.Params.ShouldBe([((2 * GiB) + (37 * MiB)).ToString(System.Globalization.CultureInfo.InvariantCulture), (7 * GiB).ToString(System.Globalization.CultureInfo.InvariantCulture)]);

        await host.CreateDomainAsync(spec, Ct);
        host.AddFault(new HypervisorFault(HypervisorStep.Build)); // neither error nor delay: INTERNAL_ERROR
        (await Should.ThrowAsync<HypervisorException>(() => host.BuildDomainAsync(spec.VmId, Ct))).Code.ShouldBe(ErrorCodes.InternalError);

        await host.BuildDomainAsync(spec.VmId, Ct);
        host.AddFault(new HypervisorFault(HypervisorStep.DeviceModel, Error: ErrorCodes.FailedToStartEmulator));
        var emulator = await Should.ThrowAsync<HypervisorException>(() => host.CreateDeviceModelAsync(spec.VmId, Ct));
        emulator.Params.Count.ShouldBe(3);
        emulator.Params[1].ShouldBe("qemu-dm-1");

        host.AddFault(new HypervisorFault(HypervisorStep.Unpause, Error: ErrorCodes.BootloaderFailed, Params: ["vm", "boom"]));
        host.AddFault(new HypervisorFault(HypervisorStep.Unpause, Count: 3));
        host.Faults.Count.ShouldBe(2);
        host.ClearFaults();
        host.Faults.ShouldBeEmpty();
        await host.CreateDeviceModelAsync(spec.VmId, Ct);
        await host.UnpauseAsync(spec.VmId, Ct);
    }

    [Fact]
    public void Invalid_faults_are_refused()
    {
        using var host = Host();
        Should.Throw<ArgumentException>(() => host.AddFault(new HypervisorFault(HypervisorStep.Build, Count: 0)));
        Should.Throw<ArgumentException>(() => host.AddFault(new HypervisorFault(HypervisorStep.Build, DelayMs: -1)));
        HypervisorSteps.TryParse("vbd_plug", out var step).ShouldBeTrue();
        step.ShouldBe(HypervisorStep.VbdPlug);
        HypervisorSteps.TryParse("reboot", out _).ShouldBeFalse();
    }

    // ---------------------------------------------------------------- spec translation

    [Fact]
    public void Specs_translate_vm_vbd_and_vif_records()
    {
        var vm = new Vm
        {
            Id = Guid.NewGuid(),
            NameLabel = "db",
            DomainType = DomainType.Pv,
            VcpusMax = 2,
            VcpusAtStartup = 1,
            MemoryStaticMax = GiB,
            MemoryDynamicMin = GiB / 2,
            MemoryDynamicMax = GiB,
            OtherConfig = ImmutableDictionary<string, string>.Empty.Add("disable_pv_vnc", ""),
            PvBootloader = "pygrub",
        };
        var spec = DomainSpec.FromVm(vm);
        spec.DisablePvVnc.ShouldBeTrue();
        (spec.VcpusMax, spec.VcpusAtStartup, spec.PvBootloader).ShouldBe((2, 1, "pygrub"));
        DomainSpec.FromVm(vm with { OtherConfig = ImmutableDictionary<string, string>.Empty }).DisablePvVnc.ShouldBeFalse();

        var vbd = new Vbd { Id = Guid.NewGuid(), Userdevice = "xvdc", Mode = VbdMode.RO, Type = VbdType.CD };
        VbdSpec.FromVbd(vbd).Position.ShouldBe(2);
        Should.Throw<HypervisorException>(() => VbdSpec.FromVbd(vbd with { Userdevice = "autodetect" }));
        VifSpec.FromVif(new Vif { Id = Guid.NewGuid(), Device = "3", Mac = "00:16:3e:aa:bb:cc" }, "xenbr1").Device.ShouldBe(3);
    }
}
