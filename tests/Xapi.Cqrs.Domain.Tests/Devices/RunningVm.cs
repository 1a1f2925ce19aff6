using System.Collections.Immutable;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Testing.Builders;

namespace Xapi.Cqrs.Domain.Tests.Devices;

/// <summary>
/// Given for device hot-plug: a Running VM (PV unless said, resident on <see cref="Host"/>, domid 3) with one RW disk on
/// a VDI and one VIF, both detached unless said. <see cref="Apply"/> folds a decision's events into every state, as
/// the store would, so a test can run a whole plug, report and unplug.
/// </summary>
public sealed record RunningVm(Vm Vm, Vbd Disk, Vdi Vdi, Vif Vif, ImmutableDictionary<Guid, XapiTask> Tasks)
{
    public static readonly Guid Host = Guid.NewGuid();

    public static GuestMetrics PvDrivers => new(true, "9.4.0", [GuestMetrics.FeatureShutdown], A.Now);

    public static RunningVm Of(
        DomainType domainType = DomainType.Pv, bool attached = false, VbdType type = VbdType.Disk, VbdMode mode = VbdMode.RW,
        GuestMetrics? guest = null, VmPowerState powerState = VmPowerState.Running, IEnumerable<VmOperation>? vmOperations = null)
    {
        var vdi = A.Vdi(readOnly: mode == VbdMode.RO);
        var running = powerState is VmPowerState.Running or VmPowerState.Paused;
        var vm = A.Vm(powerState: powerState, domainType: domainType, residentOn: running ? Host : null, domid: running ? 3 : -1,
            currentOperations: vmOperations);
        var d = A.Devices(vm with { Guest = guest },
            [A.Vbd(vdiId: vdi.Id, userdevice: "1", type: type, mode: mode, currentlyAttached: attached)],
            [vdi],
            [A.Vif(device: "1", currentlyAttached: attached)]);
        var disk = d.Vbds.Single() with { Device = attached ? "xvdb" : "" };
        var held = attached ? vdi with { Holders = vdi.Holders.Add(disk.Id, new VdiHolder(vm.Id, mode == VbdMode.RW)) } : vdi;
        return new(d.Vm, disk, held, d.Vifs.Single(), ImmutableDictionary<Guid, XapiTask>.Empty);
    }

    public XapiTask? Task(Guid id) => Tasks.GetValueOrDefault(id);

    /// <summary>Every state after <paramref name="changes"/> (tasks started by it included).</summary>
    public RunningVm Apply(Changes changes)
    {
        var tasks = Tasks;
        foreach (var stream in changes.Streams.Where(s => s.Kind == StreamKind.Task))
        {
            var start = tasks.TryGetValue(stream.Id, out var known) ? known : XapiTask.Start(stream.Events[0]);
            var events = tasks.ContainsKey(stream.Id) ? stream.Events : stream.Events.RemoveAt(0);
            tasks = tasks.SetItem(stream.Id, events.Aggregate(start!, (t, e) => t.Evolve(e)));
        }

        return new(
            changes.Fold(Vm.Id, Vm, (s, e) => s.Evolve(e)),
            changes.Fold(Disk.Id, Disk, (s, e) => s.Evolve(e)),
            changes.Fold(Vdi.Id, Vdi, (s, e) => s.Evolve(e)),
            changes.Fold(Vif.Id, Vif, (s, e) => s.Evolve(e)),
            tasks);
    }
}
