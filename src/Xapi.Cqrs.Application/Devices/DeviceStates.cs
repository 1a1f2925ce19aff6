using Marten;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Devices;

/// <summary>A VBD as a writer decides on it: its VM's write set (locked), the VM, the VBD, its VDI; and the task a report is about.</summary>
internal sealed record VbdState(WriteSet Set, Vm Vm, Vbd Vbd, Vdi? Vdi, XapiTask? Task);

/// <summary>A VIF as a writer decides on it.</summary>
internal sealed record VifState(WriteSet Set, Vm Vm, Vif Vif, XapiTask? Task);

/// <summary>
/// Loading a device for writing: its VM is found from the read model (a device's VM never changes), then the VM's
/// streams are locked and loaded (<see cref="WriteSet.LoadAsync"/>: the VM, its VBDs, VIFs and their VDIs — every
/// writer of a VM's devices holds the VM's lock). A device unknown, destroyed, or destroyed meanwhile is HANDLE_INVALID
/// to a command; a host's report about a task (<c>taskId</c> given) still gets a destroyed device, so that its task can
/// end (the decisions then write nothing but the task's end).
/// </summary>
internal static class DeviceStates
{
    public static async Task<VbdState> VbdAsync(IQuerySession reads, IDocumentSession session, Guid vbdId, Guid? taskId, CancellationToken ct)
    {
        var report = taskId is not null;
        var known = await reads.LoadAsync<Vbd>(vbdId, ct);
        if (known is null || (known.Destroyed && !report))
        {
            throw XapiException.HandleInvalid(ObjectClass.Vbd, vbdId);
        }

        var set = await WriteSet.LoadAsync(session, [known.VmId], ct);
        var d = set.DevicesOf(known.VmId);
        var vbd = d.Vbds.FirstOrDefault(v => v.Id == vbdId) ?? (report && known.Destroyed ? known : null);
        if (vbd is null || (vbd.Destroyed && !report))
        {
            throw XapiException.HandleInvalid(ObjectClass.Vbd, vbdId);
        }
        var task = taskId is { } id ? await session.LoadAsync<XapiTask>(id, ct) : null;
        return new VbdState(set, d.Vm, vbd, d.VdiOf(vbd), task);
    }

    public static async Task<VifState> VifAsync(IQuerySession reads, IDocumentSession session, Guid vifId, Guid? taskId, CancellationToken ct)
    {
        var report = taskId is not null;
        var known = await reads.LoadAsync<Vif>(vifId, ct);
        if (known is null || (known.Destroyed && !report))
        {
            throw XapiException.HandleInvalid(ObjectClass.Vif, vifId);
        }

        var set = await WriteSet.LoadAsync(session, [known.VmId], ct);
        var d = set.DevicesOf(known.VmId);
        var vif = d.Vifs.FirstOrDefault(v => v.Id == vifId) ?? (report && known.Destroyed ? known : null);
        if (vif is null || (vif.Destroyed && !report))
        {
            throw XapiException.HandleInvalid(ObjectClass.Vif, vifId);
        }
        var task = taskId is { } id ? await session.LoadAsync<XapiTask>(id, ct) : null;
        return new VifState(set, d.Vm, vif, task);
    }
}
