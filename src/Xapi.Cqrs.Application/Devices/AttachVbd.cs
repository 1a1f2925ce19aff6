using Marten;
using MediatR;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Devices;

/// <summary>
/// AttachVbd: POST /api/vms/{id}/vbds with <c>plug: true</c> (xe vm-disk-add). The VBD is created and, when the VM is
/// Running, its plug is decided in the same commit (<see cref="VbdAttach"/>); <see cref="Result.PlugTaskId"/> tracks the
/// plug the VM's host then does. If the host fails it, its report destroys the VBD again and the task carries the
/// plug's error. On a VM that is not Running the VBD is only created.
/// </summary>
public static class AttachVbd
{
    public sealed record Command(Guid VmId, Guid? VdiId, string? Userdevice, string? Mode, string? Type, bool? Bootable, bool? Empty, bool? Unpluggable)
        : IRequest<Result>, IVbdRequest;

    /// <summary>The new VBD and its stream version; the plug's task when one was asked of the host.</summary>
    public sealed record Result(Guid Id, long Version, Guid? PlugTaskId);

    public sealed class Validator : XapiValidator<Command>
    {
        public Validator() => CreateVbd.Shape(this);
    }

    public sealed class Handler(IDocumentSession session, CommandContext context, TimeProvider time) : IRequestHandler<Command, Result>
    {
        public async Task<Result> Handle(Command c, CancellationToken ct)
        {
            // The VM (it records the VBD) and the VDI the plug will hold, locked in the fixed order in one round trip.
            var request = CreateVbd.ToRequest(c);
            var versions = await session.LockAsync(ct, (StreamKind.Vm, [c.VmId]), (StreamKind.Vdi, request.VdiId is { } held ? [held] : []));
            var vm = await session.LoadAsync<Vm>(c.VmId, ct) ?? throw XapiException.HandleInvalid(ObjectClass.Vm, c.VmId);
            var vdi = request.VdiId is { } id ? await session.LoadAsync<Vdi>(id, ct) ?? throw XapiException.HandleInvalid(ObjectClass.Vdi, id) : null;
            var (vbdId, taskId) = (Guid.NewGuid(), Guid.NewGuid());
            var (changes, plugging) = VbdAttach.Decide(vm, vdi, request, plug: true, vbdId, taskId, context.Subject, time.GetUtcNow());
            await session.AppendAsync(changes, stream => versions.TryGetValue(stream, out var v) ? v : null, ct);
            await session.SaveChangesAsync(ct);
            return new Result(vbdId, changes.For(vbdId).Count, plugging ? taskId : null);
        }
    }
}
