using System.Collections.Immutable;
using FsCheck;
using FsCheck.Fluent;
using Shouldly;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Placement;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Testing.Builders;
using static Xapi.Cqrs.Domain.ErrorCodes;
using static Xapi.Cqrs.Domain.Tests.Spec;
using static Xapi.Cqrs.Domain.Vms.VmOperation;
using static Xapi.Cqrs.Domain.Vms.VmPowerState;

namespace Xapi.Cqrs.Domain.Tests.Vms;

/// <summary>
/// VM.start and VM.start_on, master side (XAPI.md §1.4, §2.1–2.3, §3.1–3.3, §4.3, §5.3–5.4, §11), through
/// the one decision the handler, ?dryRun and the replay check all call: <see cref="StartDecision.Decide"/>.
/// </summary>
public class StartDecisionTests
{
    // A 1 GiB, 1 vCPU hvm VM: overhead 1 + 1 + ⌈(256 + 1024 + 1024)/256⌉ = 9 + ⌈38/256⌉ = 1 → 12 MiB;
    // it needs (§5.3) and is charged (§5.4) 1024 + 12 = 1036 MiB.
    private const int OneGiBVmMib = 1036;

    // ---- §1.4 and §11 rules 1–4: the VM's own checks, for start and start_on alike ----

    [Fact]
    public void Running_vm_start_fails_with_bad_power_state()
    {
        var vm = A.Vm(powerState: Running);
        Given(A.Devices(vm), A.Host()).When(A.Start()).ThenRefused(VmBadPowerState, vm.Id, "halted", "running");
    }

    // §11 rule 1
    [Theory]
    [InlineData(Running, "running", false)]
    [InlineData(Paused, "paused", false)]
    [InlineData(Suspended, "suspended", false)]
    [InlineData(Running, "running", true)]
    [InlineData(Paused, "paused", true)]
    [InlineData(Suspended, "suspended", true)]
    public void Vm_that_is_not_halted_start_fails_with_bad_power_state(VmPowerState state, string actual, bool startOn)
    {
        var vm = A.Vm(powerState: state);
        var host = A.Host();
        Given(A.Devices(vm), host).When(A.Start(host: startOn ? host.Id : null))
            .ThenRefused(VmBadPowerState, vm.Id, "halted", actual);
    }

    // §11 rule 4: start never joins another VM operation.
    [Theory]
    [InlineData(Clone, false)]
    [InlineData(Export, false)]
    [InlineData(Start, false)]
    [InlineData(StartOn, true)]
    [InlineData(Snapshot, true)]
    public void Busy_vm_start_fails_with_other_operation_in_progress(VmOperation running, bool startOn)
    {
        var vm = A.Vm(currentOperations: [running]);
        var task = vm.CurrentOperations.Single().Key;
        var host = A.Host();
        Given(A.Devices(vm), host).When(A.Start(host: startOn ? host.Id : null))
            .ThenRefused(OtherOperationInProgress, "VM", vm.Id, running.ToWire(), task);
    }

    // §1.4 row 3: several operations are quoted as "{op1,op2}" / "{task1,task2}", pairwise.
    [Fact]
    public void Vm_busy_with_two_operations_start_quotes_both()
    {
        var vm = A.Vm(currentOperations: [Export, Clone]);
        var clone = vm.CurrentOperations.Single(kv => kv.Value == Clone).Key;
        var export = vm.CurrentOperations.Single(kv => kv.Value == Export).Key;
        Given(A.Devices(vm), A.Host()).When(A.Start())
            .ThenRefused(OtherOperationInProgress, "VM", vm.Id, "{clone,export}", $"{{{clone},{export}}}");
    }

    // §11 rule 2: blocked_operations wins over every other check (here: the power state).
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Blocked_start_fails_with_operation_blocked_before_any_other_check(bool startOn)
    {
        var op = startOn ? StartOn : Start;
        var vm = A.Vm(powerState: Running, currentOperations: [Clone], blockedOperations: new Dictionary<VmOperation, string> { [op] = "maintenance" });
        var host = A.Host();
        Given(A.Devices(vm), host).When(A.Start(host: startOn ? host.Id : null))
            .ThenRefused(OperationBlocked, vm.Id, "maintenance");
    }

    // blocked_operations is keyed by the operation: blocking start leaves start_on open.
    [Fact]
    public void Vm_with_start_blocked_can_still_start_on_a_host()
    {
        var vm = A.Vm(blockedOperations: new Dictionary<VmOperation, string> { [Start] = "x" });
        var host = A.Host();
        Given(A.Devices(vm), host).When(A.Start(host: host.Id)).Decision.Accepted.ShouldBeTrue();
    }

    // §11 rule 3
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void Template_start_fails_with_vm_is_template(bool defaultTemplate, bool startOn)
    {
        var vm = A.Vm(isTemplate: true, isDefaultTemplate: defaultTemplate);
        var host = A.Host();
        Given(A.Devices(vm), host).When(A.Start(host: startOn ? host.Id : null))
            .ThenRefused(VmIsTemplate, vm.Id, startOn ? "start_on" : "start");
    }

    // §11 rule 3; xapi snapshots also carry is_a_template, and the snapshot error is the one raised.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Snapshot_start_fails_with_vm_is_snapshot(bool alsoTemplate)
    {
        var vm = A.Vm(isSnapshot: true, isTemplate: alsoTemplate);
        Given(A.Devices(vm), A.Host()).When(A.Start()).ThenRefused(VmIsSnapshot, vm.Id, "start");
    }

    // ---- the start policy kept from the 2009 code (StartPolicy, XAPI.md §5.6, §6.8) ----

    [Fact]
    public void Vm_without_vcpus_start_fails_with_vm_no_vcpus()
    {
        var vm = A.Vm(vcpusMax: 0);
        Given(A.Devices(vm), A.Host()).When(A.Start()).ThenRefused(VmNoVcpus, vm.Id);
    }

    [Fact]
    public void Vm_with_64_vcpus_start_fails_with_vm_too_many_vcpus()
    {
        var vm = A.Vm(vcpusMax: 64);
        Given(A.Devices(vm), A.Host(cpuCount: 128)).When(A.Start()).ThenRefused(VmTooManyVcpus, vm.Id);
        Given(A.Devices(A.Vm(vcpusMax: 63)), A.Host(cpuCount: 128)).When(A.Start()).Decision.Accepted.ShouldBeTrue();
    }

    [Fact]
    public void Vm_below_16_MiB_start_fails_with_vm_memory_size_too_low()
    {
        var vm = A.Vm(memory: 16.MiB() - 1);
        Given(A.Devices(vm), A.Host()).When(A.Start()).ThenRefused(VmMemorySizeTooLow, vm.Id);
        Given(A.Devices(A.Vm(memory: 16.MiB())), A.Host()).When(A.Start()).Decision.Accepted.ShouldBeTrue();
    }

    // "0" and "xvda" are one disk position; the later VBD in id order is named, with the xvd name.
    [Fact]
    public void Vm_with_two_vbds_on_one_position_start_fails_with_vm_duplicate_vbd_device()
    {
        var (vdi1, vdi2) = (A.Vdi(), A.Vdi());
        var (vbd1, vbd2) = (A.Vbd(vdiId: vdi1.Id, userdevice: "0"), A.Vbd(vdiId: vdi2.Id, userdevice: "xvda"));
        var vm = A.Vm();
        var later = new[] { vbd1.Id, vbd2.Id }.Max();
        Given(A.Devices(vm, [vbd1, vbd2], [vdi1, vdi2]), A.Host(srs: [vdi1.SrId, vdi2.SrId])).When(A.Start())
            .ThenRefused(VmDuplicateVbdDevice, vm.Id, later, "xvda");
    }

    // ---- the VM's devices as loaded ----

    [Fact]
    public void Start_of_a_vm_whose_vbd_is_missing_fails_with_handle_invalid()
    {
        var missing = Guid.NewGuid();
        var devices = A.Devices(A.Vm(vbdDevices: []));
        devices = devices with { Vm = devices.Vm with { Vbds = devices.Vm.Vbds.Add(missing, "1") } };
        Given(devices, A.Host()).When(A.Start()).ThenRefused(HandleInvalid, "VBD", missing);
    }

    [Fact]
    public void Start_of_a_vm_whose_vif_is_missing_fails_with_handle_invalid()
    {
        var missing = Guid.NewGuid();
        var devices = A.Devices(A.Vm());
        devices = devices with { Vm = devices.Vm with { Vifs = devices.Vm.Vifs.Add(missing, "0") } };
        Given(devices, A.Host()).When(A.Start()).ThenRefused(HandleInvalid, "VIF", missing);
    }

    [Fact]
    public void Start_of_a_vm_whose_vdi_is_missing_fails_with_handle_invalid()
    {
        var vbd = A.Vbd();
        Given(A.Devices(A.Vm(), [vbd]), A.Host()).When(A.Start()).ThenRefused(HandleInvalid, "VDI", vbd.VdiId!.Value);
    }

    // ---- §2.1 and §2.3: every VBD takes attach (first failure wins) ----

    [Fact]
    public void Vbd_busy_with_another_operation_start_fails_with_other_operation_in_progress()
    {
        var vdi = A.Vdi();
        var vbd = A.Vbd(vdiId: vdi.Id, currentOperations: [VbdOperation.Unplug]);
        var task = vbd.CurrentOperations.Single().Key;
        Given(A.Devices(A.Vm(), [vbd], [vdi]), A.Host(srs: [vdi.SrId])).When(A.Start())
            .ThenRefused(OtherOperationInProgress, "VBD", vbd.Id, "unplug", task);
    }

    // §11 rule 7: a non-sharable VDI held RW by another VM, or held at all when this VBD wants it RW.
    [Theory]
    [InlineData(VbdMode.RO, true)]
    [InlineData(VbdMode.RW, true)]
    [InlineData(VbdMode.RW, false)]
    public void Vdi_held_by_another_vm_start_fails_with_vdi_in_use(VbdMode mode, bool holderReadWrite)
    {
        var vdi = A.Vdi(holders: [(Guid.NewGuid(), Guid.NewGuid(), holderReadWrite)]);
        var vbd = A.Vbd(vdiId: vdi.Id, mode: mode);
        Given(A.Devices(A.Vm(), [vbd], [vdi]), A.Host(srs: [vdi.SrId])).When(A.Start())
            .ThenRefused(VdiInUse, vdi.Id, "attach");
    }

    [Fact]
    public void Vdi_held_read_only_by_another_vm_or_sharable_can_be_attached()
    {
        var ro = A.Vdi(holders: [(Guid.NewGuid(), Guid.NewGuid(), false)]);
        var sharable = A.Vdi(sharable: true, holders: [(Guid.NewGuid(), Guid.NewGuid(), true)]);
        var vbds = new[] { A.Vbd(vdiId: ro.Id, mode: VbdMode.RO, userdevice: "0"), A.Vbd(vdiId: sharable.Id, userdevice: "1") };
        Given(A.Devices(A.Vm(), vbds, [ro, sharable]), A.Host(srs: [ro.SrId, sharable.SrId])).When(A.Start())
            .Decision.Accepted.ShouldBeTrue();
    }

    // §2.3: mark_vbds marks one VBD after the other, so the second RW VBD on the same non-sharable VDI
    // sees the first one busy with attach (§2.1 row 13: "other VBDs … attached, reserved or busy").
    [Fact]
    public void Vm_with_two_rw_vbds_on_one_vdi_start_fails_with_vdi_in_use()
    {
        var vdi = A.Vdi();
        var vbds = new[] { A.Vbd(vdiId: vdi.Id, userdevice: "0"), A.Vbd(vdiId: vdi.Id, userdevice: "1") };
        Given(A.Devices(A.Vm(), vbds, [vdi]), A.Host(srs: [vdi.SrId])).When(A.Start())
            .ThenRefused(VdiInUse, vdi.Id, "attach");
    }

    [Fact]
    public void Rw_vbd_on_a_read_only_vdi_start_fails_with_vdi_readonly()
    {
        var vdi = A.Vdi(readOnly: true);
        var vbd = A.Vbd(vdiId: vdi.Id, mode: VbdMode.RW);
        Given(A.Devices(A.Vm(), [vbd], [vdi]), A.Host(srs: [vdi.SrId])).When(A.Start()).ThenRefused(VdiReadonly, vdi.Id);
        Given(A.Devices(A.Vm(), [vbd with { Mode = VbdMode.RO }], [vdi]), A.Host(srs: [vdi.SrId])).When(A.Start())
            .Decision.Accepted.ShouldBeTrue();
    }

    [Fact]
    public void Unmanaged_vdi_start_fails_with_vdi_not_managed()
    {
        var vdi = A.Vdi(managed: false);
        Given(A.Devices(A.Vm(), [A.Vbd(vdiId: vdi.Id)], [vdi]), A.Host(srs: [vdi.SrId])).When(A.Start())
            .ThenRefused(VdiNotManaged, vdi.Id);
    }

    // §11 rule 8: one busy VIF is enough; its own error is dropped; no VIF stays marked (the refusal writes only StartRefused).
    [Fact]
    public void Vif_busy_with_another_operation_start_fails_with_failed_to_lock_all_vifs()
    {
        var net = Guid.NewGuid();
        var vifs = new[] { A.Vif(networkId: net, device: "0"), A.Vif(networkId: net, device: "1", currentOperations: [VifOperation.Plug]) };
        Given(A.Devices(A.Vm(), vifs: vifs), A.Host(networks: [net])).When(A.Start())
            .ThenRefused(OperationNotAllowed, "Failed to lock all VIFs");
    }

    // ---- §4.3 per-host checks: start_on reports the host's error, start finds no host (§4.2 step 4) ----

    [Fact]
    public void Start_when_no_host_has_the_memory_fails_with_no_hosts_available()
    {
        var vm = A.Vm(memory: 4.GiB());
        Given(A.Devices(vm), A.Host(memoryTotal: 2.GiB()), A.Host(memoryTotal: 3.GiB())).When(A.Start()).ThenRefused(NoHostsAvailable);
    }

    // §11 rule 10. Host: 4096 MiB − 256 MiB host overhead − a resident 2 GiB VM (2048 + 20 MiB overhead:
    // 1 + 1 + ⌈(256 + 2048 + 2048)/256⌉ = 17 + 1) = 1772 MiB free. The VM needs 2048 + 20 = 2068 MiB.
    [Fact]
    public void Start_on_a_host_without_enough_free_memory_fails_with_host_not_enough_free_memory()
    {
        var host = A.Host(memoryTotal: 4.GiB(), memoryOverhead: 256.MiB(), resident: [A.Vm(memory: 2.GiB())]);
        var vm = A.Vm(memory: 2.GiB());
        Given(A.Devices(vm), host).When(A.Start(host: host.Id))
            .ThenRefused(HostNotEnoughFreeMemory, 2068.MiB(), 1772.MiB());
    }

    // §5.4: a VM scheduled on the host is counted like a resident one.
    [Fact]
    public void Start_on_a_host_whose_memory_is_reserved_by_a_scheduled_vm_fails_with_host_not_enough_free_memory()
    {
        var host = A.Host(memoryTotal: 2.GiB(), scheduled: [A.Vm(memory: 1.GiB())]);
        Given(A.Devices(A.Vm(memory: 1.GiB())), host).When(A.Start(host: host.Id))
            .ThenRefused(HostNotEnoughFreeMemory, OneGiBVmMib.MiB(), (2048 - OneGiBVmMib).MiB());
    }

    [Fact]
    public void Start_on_a_disabled_host_fails_with_host_disabled()
    {
        var host = A.Host(enabled: false);
        Given(A.Devices(A.Vm()), host).When(A.Start(host: host.Id)).ThenRefused(ErrorCodes.HostDisabled, host.Id);
    }

    // §4.3: #6 (live) is checked before #8 (enabled).
    [Fact]
    public void Start_on_a_host_that_is_not_live_fails_with_host_not_live()
    {
        var host = A.Host(live: false, enabled: false);
        Given(A.Devices(A.Vm()), host).When(A.Start(host: host.Id)).ThenRefused(HostNotLive);
    }

    [Fact]
    public void Start_on_a_host_without_the_vms_sr_fails_with_vm_requires_sr()
    {
        var vdi = A.Vdi();
        var vm = A.Vm();
        var host = A.Host(srs: [Guid.NewGuid()]);
        Given(A.Devices(vm, [A.Vbd(vdiId: vdi.Id)], [vdi]), host).When(A.Start(host: host.Id))
            .ThenRefused(VmRequiresSr, vm.Id, vdi.SrId);
    }

    [Fact]
    public void Start_on_a_host_without_the_vms_network_fails_with_vm_requires_network()
    {
        var net = Guid.NewGuid();
        var vm = A.Vm();
        var host = A.Host(networks: [Guid.NewGuid()]);
        var other = A.Host(networks: [net]); // the network has a PIF elsewhere: not internal
        Given(A.Devices(vm, vifs: [A.Vif(networkId: net)]), host, other).When(A.Start(host: host.Id))
            .ThenRefused(VmRequiresNetwork, vm.Id, net);
    }

    // §4.3 row 12: a network no host lists is internal (no PIF anywhere): any host sees it, unless a VM on it already
    // runs (or is scheduled) on another host — internal networks pin their VMs together.
    [Fact]
    public void A_vm_on_an_internal_network_starts_anywhere_and_pins_the_next_vm_on_it_to_its_host()
    {
        var net = Guid.NewGuid();
        var (a, b) = (A.Host(networks: [Guid.NewGuid()]), A.Host(networks: [Guid.NewGuid()]));
        var first = A.Devices(A.Vm(), vifs: [A.Vif(networkId: net)]);
        var second = A.Devices(A.Vm(), vifs: [A.Vif(networkId: net)]);

        var started = StartDecision.Decide(first, A.Start(host: b.Id), A.Pool(a, b));
        started.Accepted.ShouldBeTrue(started.Refusal?.ToString());
        started.Pool.Hosts[b.Id].InternalNetworks[first.Vm.Id].ShouldBe([net]);

        StartDecision.Decide(second, A.Start(host: a.Id), started.Pool).Refusal.ShouldBeError(VmRequiresNetwork, second.Vm.Id.ToString(), net.ToString());
        for (var seed = 0; seed < 8; seed++)
        {
            StartDecision.Decide(second, A.Start(seed: seed), started.Pool).Placement!.HostId.ShouldBe(b.Id, $"seed {seed}");
        }

        var left = started.Pool.Apply(new Streams.Changes().Append(Streams.StreamKind.Host, b.Id, new VmLeftHost(first.Vm.Id))
            .Append(Streams.StreamKind.Host, b.Id, new VmUnscheduledFromHost(first.Vm.Id, started.Request.TaskId)));
        StartDecision.Decide(second, A.Start(host: a.Id), left).Accepted.ShouldBeTrue("once the first VM is gone, the network is free again");
    }

    [Theory]
    [InlineData(DomainType.Hvm)]
    [InlineData(DomainType.Pvh)]
    [InlineData(DomainType.PvInPvh)]
    public void Hvm_vm_start_on_a_host_without_hvm_fails_with_vm_hvm_required(DomainType type)
    {
        var vm = A.Vm(domainType: type);
        var host = A.Host(hvmCapable: false);
        Given(A.Devices(vm), host).When(A.Start(host: host.Id)).ThenRefused(VmHvmRequired, vm.Id);
        Given(A.Devices(A.Vm(domainType: DomainType.Pv)), host).When(A.Start(host: host.Id)).Decision.Accepted.ShouldBeTrue();
    }

    [Fact]
    public void Vm_with_more_vcpus_than_the_host_start_on_fails_with_host_not_enough_pcpus()
    {
        var host = A.Host(cpuCount: 4);
        Given(A.Devices(A.Vm(vcpusMax: 8)), host).When(A.Start(host: host.Id)).ThenRefused(HostNotEnoughPcpus, 8, 4);
        var unrestricted = A.Vm(vcpusMax: 8, platform: new Dictionary<string, string> { ["vcpu-unrestricted"] = "true" });
        Given(A.Devices(unrestricted), host).When(A.Start(host: host.Id)).Decision.Accepted.ShouldBeTrue();
    }

    // §11 rule 16
    [Fact]
    public void Start_on_an_evacuating_host_fails_with_host_evacuate_in_progress()
    {
        var host = A.Host(currentOperations: [Host.EvacuateOperation]);
        Given(A.Devices(A.Vm()), host).When(A.Start(host: host.Id)).ThenRefused(HostEvacuateInProgress, host.Id);
    }

    // §3.3: Forward.VM.start_on checks the control-domain affinity and the host's evacuate before
    // with_vm_operation, so those errors win over the VM's own (here: its power state).
    [Fact]
    public void Running_vm_start_on_an_evacuating_host_fails_with_host_evacuate_in_progress()
    {
        var host = A.Host(currentOperations: [Host.EvacuateOperation]);
        Given(A.Devices(A.Vm(powerState: Running)), host).When(A.Start(host: host.Id)).ThenRefused(HostEvacuateInProgress, host.Id);
    }

    [Fact]
    public void Start_on_an_unknown_host_fails_with_handle_invalid()
    {
        var unknown = Guid.NewGuid();
        Given(A.Devices(A.Vm()), A.Host()).When(A.Start(host: unknown)).ThenRefused(HandleInvalid, "host", unknown);
    }

    // §11 rule 16; control domains may start on a disabled host (§4.3 #8), but only on their affinity host (#7).
    [Fact]
    public void Control_domain_start_on_a_host_other_than_its_affinity_fails_with_operation_not_allowed()
    {
        var (home, other) = (A.Host(enabled: false), A.Host());
        var dom = A.Vm(isControlDomain: true, affinity: home.Id);
        Given(A.Devices(dom), home, other).When(A.Start(host: other.Id))
            .ThenRefused(OperationNotAllowed, "Cannot boot a control domain on a host different from its affinity");
        Given(A.Devices(dom), home, other).When(A.Start(host: home.Id)).Decision.Accepted.ShouldBeTrue();
    }

    // The same hosts for VM.start: every host fails its check, so none is available (§4.2 step 4).
    [Theory]
    [InlineData("disabled")]
    [InlineData("not live")]
    [InlineData("evacuating")]
    [InlineData("no sr")]
    [InlineData("no network")]
    [InlineData("no hvm")]
    [InlineData("few pcpus")]
    public void Start_when_the_only_host_fails_a_check_fails_with_no_hosts_available(string failing)
    {
        var (vdi, net) = (A.Vdi(), Guid.NewGuid());
        var vm = A.Vm(vcpusMax: 4);
        var host = A.Host(srs: [vdi.SrId], networks: [net], cpuCount: 4);
        host = failing switch
        {
            "disabled" => host with { Enabled = false },
            "not live" => host with { Live = false },
            "evacuating" => host with { CurrentOperations = host.CurrentOperations.Add(Guid.NewGuid(), Host.EvacuateOperation) },
            "no sr" => host with { Srs = [] },
            "no network" => host with { Networks = [] },
            "no hvm" => host with { HvmCapable = false },
            "few pcpus" => host with { CpuCount = 2 },
            _ => throw new ArgumentOutOfRangeException(nameof(failing)),
        };
        // Without a host listing it, the network would be internal and seen by every host: a disabled one lists it.
        Host[] hosts = failing == "no network" ? [host, A.Host(networks: [net], enabled: false)] : [host];
        Given(A.Devices(vm, [A.Vbd(vdiId: vdi.Id)], [vdi], [A.Vif(networkId: net)]), hosts).When(A.Start())
            .ThenRefused(NoHostsAvailable);
    }

    // ---- the accepted start (§3.1 steps 2–9, §2.3, §5.4) ----

    [Fact]
    public void Halted_vm_start_marks_the_vm_its_devices_and_the_host_and_reserves_memory()
    {
        var (vmId, vbdId, vdiId, vifId, srId, netId, hostId, task) =
            (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        // A VM as created: domain type unspecified (boot policy "BIOS order" → hvm), no stored overhead, no BIOS strings.
        var vm = GivenVm(A.VmCreated(id: vmId), new VbdAdded(vbdId, "0", vdiId, "Disk", "RW"), new VifAdded(vifId, "0", netId));
        var vbd = GivenVbd(A.VbdCreated(vmId, vdiId, id: vbdId));
        var vdi = GivenVdi(A.VdiCreated(id: vdiId, srId: srId));
        var vif = GivenVif(A.VifCreated(vmId, netId, id: vifId));
        var host = GivenHost(A.HostRegistered(id: hostId, srs: [srId], networks: [netId]));
        var charge = new MemoryCharge(1.GiB(), 1.GiB(), 1.GiB(), 12.MiB());

        var then = Given(VmDevices.Of(vm, [vbd], [vdi], [vif]), host).When(A.Start(taskId: task, seed: 42))
            .Then(vmId,
                new OperationAdded(task, "start", "VM"),
                new DomainTypeSet(DomainType.Hvm),
                new MemoryOverheadUpdated(12.MiB()),
                new BiosStringsSet(StartDecision.GenericBiosStrings),
                typeof(HostChosen),
                new ScheduledToBeResidentOnSet(task, hostId, false))
            .Then(vbdId, new OperationAdded(task, "attach", "VBD"))
            .Then(vdiId, new VdiHeld(vbdId, vmId, true, task))
            .Then(vifId, new OperationAdded(task, "attach", "VIF"))
            .Then(hostId, new OperationAdded(task, "vm_start", "host"), new VmScheduledOnHost(vmId, task, charge))
            .Then(task, new TaskCreated(task, "VM.start", "VM", vmId, "test", A.Now));

        var decision = then.Decision;
        decision.Changes.Streams.Select(s => (s.Kind, s.Id, s.IsNew)).ShouldBe(
        [
            (StreamKind.Vm, vmId, false), (StreamKind.Vbd, vbdId, false), (StreamKind.Vdi, vdiId, false),
            (StreamKind.Vif, vifId, false), (StreamKind.Host, hostId, false), (StreamKind.Task, task, true),
        ], ignoreOrder: true);

        var chosen = decision.Changes.For(vmId).OfType<HostChosen>().Single();
        (chosen.TaskId, chosen.HostId, chosen.Operation, chosen.Seed, chosen.Category, chosen.MemoryRequired)
            .ShouldBe((task, hostId, "start", 42, PlacementCategories.Definite, OneGiBVmMib.MiB()));
        chosen.Candidates.Select(c => c.HostId).ShouldBe([hostId]);
        chosen.Draws.ShouldHaveSingleItem().R.ShouldBe(new Random(42).NextDouble());
        decision.Placement.ShouldNotBeNull().HostId.ShouldBe(hostId);

        // The generic strings are xapi's (Xapi_globs.generic_bios_strings).
        StartDecision.GenericBiosStrings["bios-vendor"].ShouldBe("Xen");
        StartDecision.GenericBiosStrings["system-manufacturer"].ShouldBe("Xen");
        StartDecision.GenericBiosStrings["system-product-name"].ShouldBe("HVM domU");

        // The view after it: the reservation and the host op, nothing else.
        var after = decision.Pool.Hosts[hostId];
        after.Scheduled.ShouldHaveSingleItem().ShouldBe(KeyValuePair.Create(vmId, charge));
        after.CurrentOperations.ShouldHaveSingleItem().ShouldBe(KeyValuePair.Create(task, "vm_start"));
        after.FreeMemory().ShouldBe(8.GiB() - OneGiBVmMib.MiB());
        after.ShouldBeEquivalentTo(host.After(decision.Changes));
    }

    [Fact]
    public void Vm_with_domain_type_overhead_and_bios_strings_set_start_changes_none_of_them()
    {
        var vm = A.Vm() with { BiosStrings = new Dictionary<string, string> { ["bios-vendor"] = "Acme" }.ToImmutableDictionary() };
        var host = A.Host();
        var task = Guid.NewGuid();
        Given(A.Devices(vm), host).When(A.Start(taskId: task))
            .Then(vm.Id, new OperationAdded(task, "start", "VM"), typeof(HostChosen), new ScheduledToBeResidentOnSet(task, host.Id, false));
    }

    // §3.1 step 5: "" → pv, anything else → hvm.
    [Theory]
    [InlineData("", DomainType.Pv)]
    [InlineData("BIOS order", DomainType.Hvm)]
    public void Vm_with_unspecified_domain_type_start_derives_it_from_the_boot_policy(string bootPolicy, DomainType derived)
    {
        var vm = A.Vm(domainType: DomainType.Unspecified, hvmBootPolicy: bootPolicy);
        var task = Guid.NewGuid();
        Given(A.Devices(vm), A.Host()).When(A.Start(taskId: task))
            .Then(vm.Id, typeof(OperationAdded), new DomainTypeSet(derived), typeof(BiosStringsSet), typeof(HostChosen), typeof(ScheduledToBeResidentOnSet));
    }

    // §3.1 step 6 and §5.2 worked example: hvm, 4096 MiB, 2 vCPUs → 37 MiB; the reservation charges the new value.
    [Fact]
    public void Vm_with_a_stale_overhead_start_recomputes_it_and_charges_the_new_value()
    {
        var vm = A.Vm(memory: 4.GiB(), vcpusMax: 2, memoryOverhead: 1.MiB());
        var host = A.Host();
        var task = Guid.NewGuid();
        Given(A.Devices(vm), host).When(A.Start(taskId: task))
            .Then(vm.Id, typeof(OperationAdded), new MemoryOverheadUpdated(37.MiB()), typeof(BiosStringsSet), typeof(HostChosen), typeof(ScheduledToBeResidentOnSet))
            .Then(host.Id, typeof(OperationAdded), new VmScheduledOnHost(vm.Id, task, new MemoryCharge(4.GiB(), 4.GiB(), 4.GiB(), 37.MiB())));
    }

    [Fact]
    public void Paused_start_schedules_the_vm_to_start_paused()
    {
        var vm = A.Vm();
        var host = A.Host();
        var request = A.Start(paused: true);
        Given(A.Devices(vm), host).When(request)
            .Decision.Changes.For(vm.Id).OfType<ScheduledToBeResidentOnSet>().ShouldHaveSingleItem()
            .ShouldBe(new ScheduledToBeResidentOnSet(request.TaskId, host.Id, true));
    }

    // §3.3: start_on marks start_on, checks (not chooses) the host, and still takes the host's vm_start.
    [Fact]
    public void Start_on_marks_start_on_and_records_the_named_host()
    {
        var vm = A.Vm();
        var (host, better) = (A.Host(memoryTotal: 2.GiB()), A.Host(memoryTotal: 64.GiB()));
        var task = Guid.NewGuid();
        var decision = Given(A.Devices(vm), better, host).When(A.Start(host: host.Id, taskId: task, seed: 9))
            .Then(vm.Id, new OperationAdded(task, "start_on", "VM"), typeof(BiosStringsSet),
                new HostChosen(task, host.Id, "start_on", 9, "start_on", [], [], OneGiBVmMib.MiB()),
                new ScheduledToBeResidentOnSet(task, host.Id, false))
            .Then(host.Id, new OperationAdded(task, "vm_start", "host"), typeof(VmScheduledOnHost))
            .Then(task, new TaskCreated(task, "VM.start", "VM", vm.Id, "test", A.Now))
            .Decision;
        decision.Changes.For(better.Id).ShouldBeEmpty();
        decision.Pool.Hosts[better.Id].ShouldBeSameAs(better);
    }

    // §2.3: every VBD is marked, RO ones hold their VDI read-only, an empty drive holds nothing.
    [Fact]
    public void Vm_with_ro_and_empty_vbds_start_marks_each_and_holds_only_the_disks()
    {
        var vdi = A.Vdi();
        var (disk, cd) = (A.Vbd(vdiId: vdi.Id, mode: VbdMode.RO, userdevice: "0"), A.Vbd(type: VbdType.CD, mode: VbdMode.RO, empty: true, userdevice: "3"));
        var vm = A.Vm();
        var task = Guid.NewGuid();
        var decision = Given(A.Devices(vm, [disk, cd], [vdi]), A.Host(srs: [vdi.SrId])).When(A.Start(taskId: task))
            .Then(disk.Id, new OperationAdded(task, "attach", "VBD"))
            .Then(cd.Id, new OperationAdded(task, "attach", "VBD"))
            .Then(vdi.Id, new VdiHeld(disk.Id, vm.Id, false, task))
            .Decision;
        decision.Changes.Streams.Count(s => s.Kind == StreamKind.Vdi).ShouldBe(1);
    }

    // ---- §11 rule 9: the reservation is in the view the next start decides on ----

    // Each host has room for exactly one 1 GiB VM (1036 MiB). Three starts decided one after the
    // other on the returned view: two go to different hosts, the third finds none.
    [Fact]
    public void Starts_decided_one_after_the_other_never_overcommit_a_host()
    {
        var (h1, h2) = (A.Host(memoryTotal: OneGiBVmMib.MiB(), name: "h1"), A.Host(memoryTotal: OneGiBVmMib.MiB(), name: "h2"));
        var pool = A.Pool(h1, h2);
        var (vm1, vm2, vm3) = (A.Vm(memory: 1.GiB()), A.Vm(memory: 1.GiB()), A.Vm(memory: 1.GiB()));

        var first = StartDecision.Decide(A.Devices(vm1), A.Start(seed: 1), pool);
        var second = StartDecision.Decide(A.Devices(vm2), A.Start(seed: 1), first.Pool);
        var third = new StartSpec(A.Devices(vm3), second.Pool).When(A.Start(seed: 1)).ThenRefused(NoHostsAvailable);

        first.Accepted.ShouldBeTrue();
        second.Accepted.ShouldBeTrue();
        var (firstHost, secondHost) = (first.Placement!.HostId, second.Placement!.HostId);
        firstHost.ShouldNotBe(secondHost);
        first.Pool.Hosts[firstHost].FreeMemory().ShouldBe(0);
        first.Pool.Hosts[secondHost].FreeMemory().ShouldBe(OneGiBVmMib.MiB());
        second.Pool.Hosts.Values.ShouldAllBe(h => h.FreeMemory() == 0 && h.Scheduled.Count == 1);
        third.Pool.ShouldBeSameAs(second.Pool);
    }

    // §5.4: after every decision each host's free memory is memory_total − host overhead − Σ(dynamic_min +
    // overhead) of what is scheduled there. Overheads: 512 MiB → 8 MiB, 1 GiB → 12 MiB, 2 GiB → 20 MiB.
    [Fact]
    public void Free_memory_in_the_view_after_each_start_is_what_its_scheduled_vms_imply()
    {
        var hosts = new[] { A.Host(memoryTotal: 4.GiB(), memoryOverhead: 100.MiB()), A.Host(memoryTotal: 3.GiB()) };
        var vms = new (long Mib, long OverheadMib)[] { (2048, 20), (1024, 12), (512, 8), (2048, 20), (1024, 12), (512, 8), (512, 8) };
        var pool = A.Pool(hosts);
        var used = hosts.ToDictionary(h => h.Id, _ => 0L);
        var seed = 0;
        foreach (var (mib, overheadMib) in vms)
        {
            var decision = StartDecision.Decide(A.Devices(A.Vm(memory: mib.MiB())), A.Start(seed: seed++), pool);
            if (decision.Accepted)
            {
                used[decision.Placement!.HostId] += (mib + overheadMib).MiB();
            }
            else
            {
                decision.Refusal!.Code.ShouldBe(NoHostsAvailable);
            }

            foreach (var h in hosts)
            {
                decision.Pool.Hosts[h.Id].FreeMemory().ShouldBe(h.MemoryTotal - h.MemoryOverhead - used[h.Id]);
            }

            pool = decision.Pool;
        }

        used.Values.Sum().ShouldBeGreaterThan(0);
    }

    // ---- replay (§11 rule 13): the seed of the request drives the draw and is recorded ----

    [Fact]
    public void Same_seed_and_inputs_choose_the_same_host()
    {
        var hosts = Enumerable.Range(0, 4).Select(_ => A.Host()).ToArray();
        var devices = A.Devices(A.Vm());
        var chosen = new HashSet<Guid>();
        for (var seed = 0; seed < 20; seed++)
        {
            var once = StartDecision.Decide(devices, A.Start(seed: seed), A.Pool(hosts));
            var again = StartDecision.Decide(devices, A.Start(seed: seed), A.Pool(hosts));
            var (a, b) = (once.Changes.For(devices.Vm.Id).OfType<HostChosen>().Single(), again.Changes.For(devices.Vm.Id).OfType<HostChosen>().Single());
            b.HostId.ShouldBe(a.HostId);
            b.Draws.ShouldBe(a.Draws);
            a.Seed.ShouldBe(seed);
            a.Draws[0].R.ShouldBe(new Random(seed).NextDouble());
            chosen.Add(a.HostId);
        }

        chosen.Count.ShouldBeGreaterThan(1, "different seeds should spread equal hosts");
    }

    [Fact]
    public void Start_on_picks_the_named_host_even_when_another_is_better()
    {
        var (small, big) = (A.Host(memoryTotal: 2.GiB()), A.Host(memoryTotal: 64.GiB()));
        foreach (var seed in new[] { 0, 1, 2, 3 })
        {
            var decision = StartDecision.Decide(A.Devices(A.Vm()), A.Start(host: small.Id, seed: seed), A.Pool(small, big));
            decision.Placement!.HostId.ShouldBe(small.Id);
            decision.Pool.Hosts[small.Id].Scheduled.Count.ShouldBe(1);
            decision.Pool.Hosts[big.Id].Scheduled.ShouldBeEmpty();
        }
    }

    // §11 rules 9 and 10 as a property: whatever the pool and the VMs (valid memory constraints,
    // static_min ≤ dynamic_min ≤ dynamic_max ≤ static_max), starts and start_ons decided one after the
    // other on the evolving view — some turned resident by the host's report — never promise a host more
    // than memory_total − memory_overhead: Σ(dynamic_min + overhead) of its scheduled and resident VMs.
    // (The shadow multiplier stays 1.0: for pv xapi checks start_on with 1.0 but charges the VM's own.)
    [Fact]
    public void Starts_decided_on_the_evolving_view_never_overcommit_any_host()
    {
        var hosts =
            from totalMib in Gen.Choose(256, 8192)
            from overheadMib in Gen.Choose(0, 256)
            select A.Host(memoryTotal: totalMib.MiB(), memoryOverhead: overheadMib.MiB());
        var starts =
            from staticMaxMib in Gen.Choose(16, 4096)
            from dynamicMaxPercent in Gen.Choose(1, 100)
            from dynamicMinPercent in Gen.Choose(1, 100)
            from vcpus in Gen.Choose(1, 8)
            from type in Gen.Elements(DomainType.Hvm, DomainType.Pv, DomainType.Pvh, DomainType.PvInPvh)
            from target in Gen.Choose(-2, 3) // < 0: VM.start; otherwise VM.start_on that host (mod the pool size)
            from resident in Gen.Elements(true, false)
            let staticMax = staticMaxMib.MiB()
            let dynamicMax = Math.Max(1, staticMax * dynamicMaxPercent / 100)
            let dynamicMin = Math.Max(1, dynamicMax * dynamicMinPercent / 100)
            select (Vm: A.Vm(staticMax: staticMax, dynamicMax: dynamicMax, dynamicMin: dynamicMin, vcpusMax: vcpus, domainType: type), Target: target, Resident: resident);
        var cases =
            from pool in Gen.Choose(1, 4).SelectMany(n => Gen.ListOf(hosts, n))
            from sequence in Gen.Choose(1, 12).SelectMany(n => Gen.ListOf(starts, n))
            from seed in Gen.Choose(0, 1_000_000)
            select (Pool: pool.ToList(), Starts: sequence.ToList(), Seed: seed);

        var accepted = 0;
        bool NeverOvercommits((List<Host> Pool, List<(Vm Vm, int Target, bool Resident)> Starts, int Seed) c)
        {
            var pool = A.Pool([.. c.Pool]);
            var seed = c.Seed;
            foreach (var (vm, target, resident) in c.Starts)
            {
                var devices = A.Devices(vm);
                var request = A.Start(host: target < 0 ? null : c.Pool[target % c.Pool.Count].Id, seed: seed++);
                var decision = StartDecision.Decide(devices, request, pool);
                if (!decision.Accepted)
                {
                    if (decision.Refusal!.Code is not (NoHostsAvailable or HostNotEnoughFreeMemory))
                    {
                        return false;
                    }

                    continue;
                }

                accepted++;
                pool = decision.Pool;
                if (resident)
                {
                    var host = pool.Hosts[decision.Placement!.HostId];
                    pool = pool.Apply(StartReports.Resident(devices.Evolve(decision.Changes), host, request.TaskId, 1,
                        Running, new Dictionary<Guid, string>(), [], [], A.Now));
                }

                if (pool.Hosts.Values.Any(h => h.Scheduled.Values.Concat(h.Resident.Values).Sum(m => m.Used) > h.MemoryTotal - h.MemoryOverhead))
                {
                    return false;
                }
            }

            return true;
        }

        Check.One(Config.QuickThrowOnFailure.WithMaxTest(200), Prop.ForAll(cases.ToArbitrary(), NeverOvercommits));
        accepted.ShouldBeGreaterThan(200, "most generated starts should fit somewhere");
    }
}
