using FluentValidation;
using MediatR;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Vms;

/// <summary>
/// VM.start and VM.start_on, master side (XAPI.md §3). The decision — checks, marks, overhead, BIOS strings,
/// placement and reservation — is <see cref="StartDecision.Decide"/>; the pool's <see cref="StartDecider"/>
/// takes it in order with every other start queued at the same time and commits them together. The host
/// agent takes it from there (§6); the answer waits for the task unless async.
/// </summary>
public static class StartVm
{
    public sealed record Command(Guid VmId, Guid? Host, bool Paused, bool Force) : IRequest<Started>;

    /// <summary>The task that tracks the start, and the VM stream version after the master-side commit.</summary>
    public sealed record Started(Guid TaskId, long VmVersion);

    public sealed class Validator : XapiValidator<Command>
    {
        public Validator() => RuleFor(c => c.VmId).NotEmpty().InvalidValue("VM");
    }

    public sealed class Handler(StartDecider decider, CommandContext context) : IRequestHandler<Command, Started>
    {
        public Task<Started> Handle(Command c, CancellationToken ct) =>
            decider.DecideAsync(c, new EventMetadata(context.Subject, context.CorrelationId, context.CausationId, System.Diagnostics.Activity.Current?.Id), ct);
    }
}

/// <summary>
/// Xapi:Seed — the placement draw's seed source (unset: a random seed per start, still recorded); and
/// Xapi:Placement:DecideWithin — how long a start may wait for the placement loop before it answers TOO_BUSY.
/// </summary>
public sealed class PlacementSettings(int? seed, TimeSpan? decideWithin = null)
{
    public static readonly TimeSpan DefaultDecideWithin = TimeSpan.FromSeconds(30);

    public TimeSpan DecideWithin { get; } = decideWithin ?? DefaultDecideWithin;

    private readonly Random seeds = seed is { } s ? new Random(s) : new Random();
    private readonly Lock gate = new();

    public int NextSeed()
    {
        lock (gate)
        {
            return seeds.Next();
        }
    }
}
