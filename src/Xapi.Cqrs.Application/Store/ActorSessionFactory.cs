using Marten;
using Microsoft.Extensions.Logging;

namespace Xapi.Cqrs.Application.Store;

/// <summary>
/// Opens Marten sessions that carry the caller's subject and correlation id as event metadata, so every
/// event records when (Marten's timestamp), who (header "actor") and why (correlation/causation id).
/// </summary>
public sealed class ActorSessionFactory(IDocumentStore store, CommandContext context, ILogger<QuietConflictLogger> log) : ISessionFactory
{
    public const string ActorHeader = "actor";

    /// <summary>The W3C trace context of the command that appended the event (when traced), read by the host agents to continue its trace.</summary>
    public const string TraceHeader = "traceparent";

    public IQuerySession QuerySession() => store.QuerySession();

    public IDocumentSession OpenSession()
    {
        var session = OpenForMany(store, log);
        Stamp(session, context);
        return session;
    }

    /// <summary>
    /// A session with no caller of its own, for a commit that carries the decisions of several callers:
    /// each event is stamped with its own caller (<see cref="ChangesWriter"/>), which session-wide metadata
    /// would override.
    /// </summary>
    public static IDocumentSession OpenForMany(IDocumentStore store, ILogger<QuietConflictLogger> log)
    {
        // An identity map: the states a writer loaded are the ones its inline projections evolve, not loaded twice.
        var session = store.IdentitySession();
        session.Logger = new QuietConflictLogger(session.Logger, log);
        return session;
    }

    public static void Stamp(IDocumentSession session, CommandContext context)
    {
        session.CorrelationId = context.CorrelationId;
        session.CausationId = context.CausationId;
        session.SetHeader(ActorHeader, context.Subject);
        if (System.Diagnostics.Activity.Current?.Id is { } trace)
        {
            session.SetHeader(TraceHeader, trace);
        }
    }
}
