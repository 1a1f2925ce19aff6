using System.Collections.Immutable;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;

namespace Xapi.Cqrs.Domain.Vms;

/// <summary>A VM with its devices as loaded: its VBDs (by id), the VDIs they use, its VIFs (by id).</summary>
public sealed record VmDevices(Vm Vm, ImmutableArray<Vbd> Vbds, ImmutableDictionary<Guid, Vdi> Vdis, ImmutableArray<Vif> Vifs)
{
    public static VmDevices Of(Vm vm, IEnumerable<Vbd> vbds, IEnumerable<Vdi> vdis, IEnumerable<Vif> vifs) => new(
        vm,
        [.. vbds.Where(v => vm.Vbds.ContainsKey(v.Id)).OrderBy(v => v.Id)],
        vdis.ToImmutableDictionary(v => v.Id),
        [.. vifs.Where(v => vm.Vifs.ContainsKey(v.Id)).OrderBy(v => v.Id)]);

    /// <summary>The VDI a VBD uses (none for an empty VBD).</summary>
    public Vdi? VdiOf(Vbd vbd) => vbd is { Empty: false, VdiId: { } id } && Vdis.TryGetValue(id, out var vdi) ? vdi : null;

    /// <summary>The first of the VM's VBDs and VIFs that was not found, as HANDLE_INVALID (null when all were).</summary>
    public XapiException? Missing() =>
        Vm.Vbds.Keys.Order().FirstOrDefault(id => !Vbds.Any(v => v.Id == id)) is var vbd && vbd != Guid.Empty
            ? XapiException.HandleInvalid(ObjectClass.Vbd, vbd)
            : Vm.Vifs.Keys.Order().FirstOrDefault(id => !Vifs.Any(v => v.Id == id)) is var vif && vif != Guid.Empty
                ? XapiException.HandleInvalid(ObjectClass.Vif, vif)
                : Vbds.FirstOrDefault(v => v is { Empty: false, VdiId: { } d } && !Vdis.ContainsKey(d)) is { VdiId: { } vdi }
                    ? XapiException.HandleInvalid(ObjectClass.Vdi, vdi)
                    : null;

    /// <summary>These states after <paramref name="changes"/> (so the next decision of a batch sees this one's).</summary>
    public VmDevices Evolve(Changes changes) => new(
        changes.Fold(Vm.Id, Vm, (s, e) => s.Evolve(e)),
        [.. Vbds.Select(v => changes.Fold(v.Id, v, (s, e) => s.Evolve(e)))],
        Vdis.ToImmutableDictionary(kv => kv.Key, kv => changes.Fold(kv.Key, kv.Value, (s, e) => s.Evolve(e))),
        [.. Vifs.Select(v => changes.Fold(v.Id, v, (s, e) => s.Evolve(e)))]);
}

/// <summary>What <see cref="DeviceMarks.Release"/> gives back.</summary>
[Flags]
public enum Release
{
    /// <summary>The task's current_operations entries on the VM, its VBDs and VIFs, and the host.</summary>
    Marks = 1,

    /// <summary>The VDIs the VM's VBDs hold (§2.1 row 13).</summary>
    Holds = 2,

    /// <summary>currently_attached on every attached VBD and VIF (§1.7: devices detached).</summary>
    Attachments = 4,

    /// <summary>Every current_operations entry of the VM's VBDs and VIFs, whatever its task (§1.7).</summary>
    DeviceOperations = 8,
}

/// <summary>
/// Marking and unmarking a VM's devices (§2.3, §3.1 steps 2–4 and 10, §1.7): one plan, used when a start
/// marks them, when it completes or fails, and on every move to Halted. Every OperationAdded it writes gets
/// its OperationRemoved here, whatever the outcome.
/// </summary>
public static class DeviceMarks
{
    /// <summary>§2.3: <c>attach</c> on every VBD (holding its VDI) and every VIF, for <paramref name="taskId"/>.</summary>
    public static Changes Mark(Changes changes, VmDevices d, Guid taskId)
    {
        foreach (var vbd in d.Vbds)
        {
            changes.Append(StreamKind.Vbd, vbd.Id, new OperationAdded(taskId, VbdOperation.Attach.ToWire(), ObjectClass.Vbd));
            if (d.VdiOf(vbd) is { } vdi)
            {
                changes.Append(StreamKind.Vdi, vdi.Id, new VdiHeld(vbd.Id, d.Vm.Id, vbd.Mode == VbdMode.RW, taskId));
            }
        }

        foreach (var vif in d.Vifs)
        {
            changes.Append(StreamKind.Vif, vif.Id, new OperationAdded(taskId, VifOperation.Attach.ToWire(), ObjectClass.Vif));
        }

        return changes;
    }

    /// <summary>Gives back what <paramref name="what"/> names; <paramref name="taskId"/> is the task whose marks go (for <see cref="Release.Marks"/>).</summary>
    public static Changes Release(Changes changes, VmDevices d, Host? host, Guid taskId, Release what)
    {
        var vm = d.Vm;
        var marks = what.HasFlag(Vms.Release.Marks);
        var all = what.HasFlag(Vms.Release.DeviceOperations);
        if (marks && vm.CurrentOperations.TryGetValue(taskId, out var op))
        {
            changes.Append(StreamKind.Vm, vm.Id, new OperationRemoved(taskId, op.ToWire(), ObjectClass.Vm));
        }

        foreach (var vbd in d.Vbds)
        {
            foreach (var (task, vop) in vbd.CurrentOperations.Where(kv => all || (marks && kv.Key == taskId)).OrderBy(kv => kv.Key))
            {
                changes.Append(StreamKind.Vbd, vbd.Id, new OperationRemoved(task, vop.ToWire(), ObjectClass.Vbd));
            }

            if (what.HasFlag(Vms.Release.Attachments) && vbd.CurrentlyAttached)
            {
                changes.Append(StreamKind.Vbd, vbd.Id, new VbdCurrentlyAttachedSet(false, vbd.Device));
            }

            if (what.HasFlag(Vms.Release.Holds) && vbd.VdiId is { } vdiId && d.Vdis.TryGetValue(vdiId, out var vdi) && vdi.Holders.ContainsKey(vbd.Id))
            {
                changes.Append(StreamKind.Vdi, vdiId, new VdiReleased(vbd.Id));
            }
        }

        foreach (var vif in d.Vifs)
        {
            foreach (var (task, fop) in vif.CurrentOperations.Where(kv => all || (marks && kv.Key == taskId)).OrderBy(kv => kv.Key))
            {
                changes.Append(StreamKind.Vif, vif.Id, new OperationRemoved(task, fop.ToWire(), ObjectClass.Vif));
            }

            if (what.HasFlag(Vms.Release.Attachments) && vif.CurrentlyAttached)
            {
                changes.Append(StreamKind.Vif, vif.Id, new VifCurrentlyAttachedSet(false));
            }
        }

        if (marks && host is not null && host.CurrentOperations.TryGetValue(taskId, out var hop))
        {
            changes.Append(StreamKind.Host, host.Id, new OperationRemoved(taskId, hop, ObjectClass.Host));
        }

        return changes;
    }
}
