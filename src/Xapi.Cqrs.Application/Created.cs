namespace Xapi.Cqrs.Application;

/// <summary>The answer to a create command: the new object's id and its stream version.</summary>
public sealed record Created(Guid Id, long Version);
