using Marten;

namespace Xapi.Cqrs.Application.Store;

/// <summary>
/// Opens Marten sessions that carry the caller's subject and correlation id as event metadata, so every
/// event records when (Marten's timestamp), who (header "actor") and why (correlation/causation id).
/// </summary>
public sealed class ActorSessionFactory(IDocumentStore store, CommandContext context) : ISessionFactory
{
    public const string ActorHeader = "actor";

    public IQuerySession QuerySession() => store.QuerySession();

    public IDocumentSession OpenSession()
    {
        var session = store.LightweightSession();
        Stamp(session, context);
        return session;
    }

    public static void Stamp(IDocumentSession session, CommandContext context)
    {
        session.CorrelationId = context.CorrelationId;
        session.CausationId = context.CausationId;
        session.SetHeader(ActorHeader, context.Subject);
    }
}
