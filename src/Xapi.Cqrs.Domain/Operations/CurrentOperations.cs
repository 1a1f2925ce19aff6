namespace Xapi.Cqrs.Domain.Operations;

/// <summary>
/// How a current_operations map (task id → op) is quoted in <c>OTHER_OPERATION_IN_PROGRESS</c>
/// parameters. Entries are put in a fixed order — by the op's wire name, then by task id — so the
/// same state always yields the same parameters, and the i-th op belongs to the i-th task.
/// </summary>
internal static class CurrentOperations
{
    public static List<(Guid Task, string Op)> Ordered<TOp>(
        IEnumerable<KeyValuePair<Guid, TOp>> current, Func<TOp, string> wire, Guid? taskIdToIgnore = null) =>
        [.. current
            .Where(kv => kv.Key != taskIdToIgnore)
            .Select(kv => (Task: kv.Key, Op: wire(kv.Value)))
            .OrderBy(e => e.Op, StringComparer.Ordinal)
            .ThenBy(e => e.Task)];

    /// <summary>
    /// The op and task parameters: a single entry as <c>op</c> / <c>task</c> (or <c>{op}</c> /
    /// <c>{task}</c> when <paramref name="alwaysBraced"/>), several as <c>{op1,op2}</c> / <c>{t1,t2}</c>.
    /// </summary>
    public static (string Ops, string Tasks) Quote(IReadOnlyList<(Guid Task, string Op)> ordered, bool alwaysBraced)
    {
        if (ordered.Count == 1 && !alwaysBraced)
        {
            return (ordered[0].Op, ordered[0].Task.ToString());
        }

        return ("{" + string.Join(',', ordered.Select(e => e.Op)) + "}",
            "{" + string.Join(',', ordered.Select(e => e.Task)) + "}");
    }
}
