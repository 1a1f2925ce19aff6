using FluentValidation;
using Marten;
using MediatR;
using Microsoft.Extensions.Logging;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Vms;

/// <summary>VM.destroy (<see cref="VmDestroy"/>): master-side only, one commit. Answers the VM stream's new version.</summary>
public static class DestroyVm
{
    public sealed record Command(Guid VmId) : IRequest<long>;

    public sealed class Validator : XapiValidator<Command>
    {
        public Validator() => RuleFor(c => c.VmId).NotEmpty().InvalidValue("VM");
    }

    public sealed class Handler(IDocumentSession session, VmArchive archive, ILogger<Handler> log, TimeProvider time) : IRequestHandler<Command, long>
    {
        public async Task<long> Handle(Command c, CancellationToken ct)
        {
            var set = await WriteSet.LoadAsync(session, [c.VmId], ct);
            var devices = set.DevicesOf(c.VmId);
            var changes = VmDestroy.Decide(devices, time.GetUtcNow());
            await session.AppendAsync(changes, set.VersionOf, ct);
            await session.SaveChangesAsync(ct);
            try
            {
                // Retention, once the destroy is committed; if this fails, the sweep archives it later.
                await archive.ArchiveAsync(c.VmId, CancellationToken.None);
            }
            catch (Exception e)
            {
                log.LogWarning(e, "Destroyed VM {Vm} not archived yet; the retention sweep will", c.VmId);
            }

            return devices.Vm.Version + changes.For(c.VmId).Count;
        }
    }
}
