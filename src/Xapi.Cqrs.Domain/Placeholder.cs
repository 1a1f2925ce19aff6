namespace Xapi.Cqrs.Domain;
public static class Placeholder { }
