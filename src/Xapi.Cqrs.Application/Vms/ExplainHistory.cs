using FluentValidation;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Admin;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Placement;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Vms;

/// <summary>
/// GET /api/vms/{id}/history/explain: every start of the VM (start and start_on, refused, failed, pending or done), in
/// order, as a story — who asked (subject, role, correlation id), the hosts considered with their category values and
/// failed checks, the seed and the draws, the host chosen, each host-side step with its duration, the outcome, and
/// whether today's placement, run over the recorded inputs (<see cref="PlacementReplay"/>), picks the same host. Read
/// from the log the way <see cref="History"/> reads it; told by the pure <see cref="StartStories.Tell"/>.
/// </summary>
public static class ExplainHistory
{
    public sealed record Query(Guid VmId) : IRequest<Explanation>;

    public sealed record Explanation(Guid Vm, IReadOnlyList<Start> Starts);

    /// <summary>Who asked: the token subject, and its role when the tokens of that subject all have one role (else null).</summary>
    public sealed record Actor(string? Subject, string? Role);

    public sealed record Refusal(string Code, IReadOnlyList<string> Params);

    /// <summary>A candidate's values in every category (§4.4; &lt; 0 = outside) and its available memory.</summary>
    public sealed record CategoryValues(long Available, long? Affinity, long? Definite, long? Probable, long? Possible);

    /// <summary>A host considered: its first category and value there (null: outside all), its failed check, and every value.</summary>
    public sealed record Candidate(Guid Host, string NameLabel, string? Category, long? Value, Refusal? Refused, CategoryValues Values);

    /// <summary>One draw of ⌊n·r²⌋: in which category and pass, over how many hosts, r, the index, the host and whether it validated.</summary>
    public sealed record Draw(string Category, bool MemoryCheck, int Candidates, double R, int Index, Guid Host, bool Accepted);

    public sealed record Step(string Type, DateTimeOffset? At, double? DurationMs);

    public sealed record Outcome(string Status, string? Code, IReadOnlyList<string> Params, DateTimeOffset? At);

    /// <summary>
    /// Today's placement over the recorded inputs: <see cref="Reproduced"/> when it picks the recorded host; <see cref="Host"/>
    /// what it picks; <see cref="Replayed"/> false when there was no recorded choice to replay (the note says why).
    /// </summary>
    public sealed record Replay(bool Reproduced, Guid? Host, string Note, bool Replayed, string? Category, IReadOnlyList<Draw> Draws);

    public sealed record Start(
        Guid TaskId,
        string Operation,
        DateTimeOffset RequestedAt,
        Actor Actor,
        string? CorrelationId,
        Guid? RequestedHost,
        bool Paused,
        int? Seed,
        long? MemoryRequired,
        string? Category,
        IReadOnlyList<Candidate> Candidates,
        IReadOnlyList<Draw> Draws,
        Guid? ChosenHost,
        IReadOnlyList<Step> Steps,
        Outcome Outcome,
        Replay Replay);

    public sealed class Validator : XapiValidator<Query>
    {
        public Validator() => RuleFor(q => q.VmId).NotEmpty().InvalidValue("VM");
    }

    public sealed class Handler(IQuerySession session) : IRequestHandler<Query, Explanation>
    {
        public async Task<Explanation> Handle(Query q, CancellationToken ct)
        {
            var events = await (await History.EventsOfAsync(session, q.VmId, 0, ct)).OrderBy(e => e.Sequence).ToListAsync(ct);
            var stories = StartStories.Tell(q.VmId, events.Select(e =>
                new RecordedEvent(e.Sequence, e.StreamId, e.EventTypeName, e.Timestamp, History.ActorOf(e), e.CorrelationId, e.Data)));

            // A subject's role, when its tokens agree on one (the events record the subject only).
            var subjects = stories.Select(s => s.Subject).OfType<string>().Distinct().ToArray();
            var tokens = subjects.Length == 0 ? [] : await session.Query<ApiToken>().Where(t => t.Subject.IsOneOf(subjects)).ToListAsync(ct);
            var roles = tokens.GroupBy(t => t.Subject).Where(g => g.Select(t => t.Role).Distinct().Count() == 1)
                .ToDictionary(g => g.Key, g => g.First().Role.ToWire());

            return new Explanation(q.VmId, [.. stories.Select(s => ToStart(s, roles))]);
        }

        private static Start ToStart(StartStory s, IReadOnlyDictionary<string, string> roles)
        {
            var choice = s.Choice;
            return new Start(
                s.TaskId,
                s.Operation,
                s.RequestedAt,
                new Actor(s.Subject, s.Subject is { } subject ? roles.GetValueOrDefault(subject) : null),
                s.CorrelationId,
                s.RequestedHost,
                s.Paused,
                choice?.Seed,
                choice?.MemoryRequired,
                choice?.Category,
                choice is null || choice.Candidates.IsDefault ? [] : [.. choice.Candidates.Select(ToCandidate)],
                choice is null || choice.Draws.IsDefault ? [] : [.. choice.Draws.Select(ToDraw)],
                choice?.HostId,
                [.. s.Steps.Select(t => new Step(t.Type, t.At, t.DurationMs))],
                new Outcome(s.Outcome.Status, s.Outcome.Code, [.. s.Outcome.Params], s.Outcome.At),
                new Replay(s.Replay.Reproduced, s.Replay.HostId, s.Replay.Note, s.Replay.Replayed, s.Replay.Category, [.. s.Replay.Draws.Select(ToDraw)]));
        }

        private static Candidate ToCandidate(HostCandidate c)
        {
            var (category, value) = PlacementCategories.Of(c);
            return new Candidate(c.HostId, c.NameLabel, category, value,
                c.FailedCheck is { } code ? new Refusal(code, c.FailedParams.IsDefault ? [] : [.. c.FailedParams]) : null,
                new CategoryValues(c.Available, c.Affinity, c.Definite, c.Probable, c.Possible));
        }

        private static Draw ToDraw(PlacementDraw d) => new(d.Category, d.MemoryCheck, d.Candidates, d.R, d.Index, d.HostId, d.Accepted);
    }
}
