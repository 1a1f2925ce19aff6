using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Domain.Vbds;

/// <summary>What VBD.create is asked for (the VDI is loaded by the caller; null for an empty drive).</summary>
public sealed record VbdRequest(Guid? VdiId, string Userdevice, VbdMode Mode, VbdType Type, bool Bootable = false, bool Empty = false, bool Unpluggable = true);

/// <summary>VBD.create (xapi_vbd.ml <c>create</c>, XAPI.md §2.1 "Other VBD rules"), as a pure decision.</summary>
public static class VbdCreate
{
    /// <summary>
    /// The checks of <see cref="VbdRules.CheckCreate"/>, then the VM stream records the VBD (VbdAdded, appended at the
    /// version the VM was locked at, so two creates cannot take one position) and the VBD's stream starts.
    /// <paramref name="attachTaskId"/>: the AttachVbd task that plugs it in the same commit.
    /// </summary>
    public static Changes Decide(Vm vm, Vdi? vdi, VbdRequest request, Guid vbdId, Guid? attachTaskId = null)
    {
        var userdevice = VbdRules.CheckCreate(vm, request.Userdevice, request.Type, request.Mode, request.Empty, vdi);
        var vdiId = request.Empty ? null : request.VdiId;
        return new Changes()
            .Append(StreamKind.Vm, vm.Id, new VbdAdded(vbdId, userdevice, vdiId, request.Type.ToString(), request.Mode.ToString()))
            .Start(StreamKind.Vbd, vbdId, new VbdCreated(
                vbdId, vm.Id, vdiId, userdevice, request.Mode, request.Type, request.Bootable, request.Empty, request.Unpluggable, attachTaskId));
    }
}
